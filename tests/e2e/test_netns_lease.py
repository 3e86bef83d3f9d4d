"""A node cut off from the controller: its agent lives on, its lease lapses, its job's
processes die there, and only then does the controller requeue the job.

The node's agent runs in a network namespace joined to the host by a veth pair;
taking the host's end down cuts the node off.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.test_runs import _alive, _ticker, _ticks, _wait_states, _wait_ticking

pytestmark = pytest.mark.slow  # each waits out leases and job runs
KEY = "lease-cluster-key-1234"
LEASE_S = 4
KILL_GRACE_S = 1


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


@dataclass
class Link:
    ns: str
    outer: str
    host_ip: str


@pytest.fixture
def link() -> Iterator[Link]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = uuid.uuid4().hex[:6]
    subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 250)}"
    ln = Link(f"corral-{tag}-cut", f"crlc{tag}", f"{subnet}.1")
    try:
        _ip("netns", "add", ln.ns)
        _ip("link", "add", ln.outer, "type", "veth", "peer", "name", f"{ln.outer}p")
        _ip("link", "set", f"{ln.outer}p", "netns", ln.ns)
        _ip("addr", "add", f"{ln.host_ip}/24", "dev", ln.outer)
        _ip("link", "set", ln.outer, "up")
        _ip("addr", "add", f"{subnet}.2/24", "dev", f"{ln.outer}p", ns=ln.ns)
        _ip("link", "set", f"{ln.outer}p", "up", ns=ln.ns)
        _ip("link", "set", "lo", "up", ns=ln.ns)
    except (subprocess.CalledProcessError, OSError) as e:
        _teardown(ln)
        pytest.skip(f"cannot build the test network: {e}")
    try:
        yield ln
    finally:
        _teardown(ln)


def _teardown(ln: Link) -> None:
    subprocess.run(["ip", "netns", "del", ln.ns], capture_output=True, timeout=10)
    subprocess.run(["ip", "link", "del", ln.outer], capture_output=True, timeout=10)


@pytest.fixture
def cut_cluster(link: Link) -> Iterator[tuple[Cluster, subprocess.Popen[bytes]]]:
    root = Path(tempfile.mkdtemp(prefix="corral-lease-"))
    root.chmod(0o755)
    port = random.randint(20000, 40000)
    c = make_cluster(root, controller_config=(
        f'listen = "{link.host_ip}:{port}"\ncluster_key = "{KEY}"\n'
        f"node_lease_s = {LEASE_S}\n"))
    try:
        agent = c.start_agent("cut", controller=f"http://{link.host_ip}:{port}",
                              cluster_key=KEY, prefix=("ip", "netns", "exec", link.ns))
        c.wait_idle("cut")
        with c.client() as cl:
            cl.drain("node1", "jobs go to the node that will be cut off")
        yield c, agent
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def test_a_cut_off_node_kills_its_job_before_the_requeue(
        link: Link, cut_cluster: tuple[Cluster, subprocess.Popen[bytes]]) -> None:
    c, agent = cut_cluster
    job_id, log = _ticker(c, "cut", 400, 0)
    c.wait_state(job_id, {"RUNNING"}, timeout_s=20)
    _wait_ticking(log)
    with c.client() as cl:
        assert cl.job(job_id)["node_list"] == ["cut"]
    old_pid = _ticks(log)[0][0]
    t_cut = time.time()
    _ip("link", "set", link.outer, "down")
    seen = _wait_states(c, {job_id: {"PENDING"}}, timeout_s=30)
    took_s = seen[job_id] - t_cut
    print(f"job {job_id}: requeued {took_s:.2f} s after its node was cut off "
          f"(lease {LEASE_S} s, bound {LEASE_S + KILL_GRACE_S + 2} s)")
    assert LEASE_S <= took_s <= LEASE_S + KILL_GRACE_S + 2 + 2.5, took_s
    assert not _alive(old_pid)  # killed on its node by the lapsed lease
    assert agent.poll() is None  # while the agent lives on
    assert max(r[3] for r in _ticks(log)) < seen[job_id]
    _ip("link", "set", link.outer, "up")  # the node is back: the next run starts there
    with c.client() as cl:
        job = cl.wait(job_id, timeout_s=40)
    assert (job["state"], job["restarts"], job["node_list"]) == ("COMPLETED", 1, ["cut"]), job
    rows = _ticks(log)
    first, second = [r for r in rows if r[2] == 0], [r for r in rows if r[2] == 1]
    assert {r[0] for r in first} == {old_pid} and [r[1] for r in second] == [1, 2, 3], rows
    assert min(r[3] for r in second) > max(r[3] for r in first)
    assert "lease" in (c.state / "cut.log").read_text()
