"""Pilots into two real batch systems (docs/pilots.md): a Slurm in one network
namespace and a Grid Engine in another, each a "site", and a central controller with
no node of its own in this host's namespace, on a bridge both namespaces are joined to.
The pilot factory (`corral pilot`) reaches each site's commands through the site's
`command_prefix` (`ip netns exec NS`, as another site's would be `ssh submit-host`)
and submits corral agents into both as ordinary jobs; started by the sites' daemons
inside their namespaces, they reach the controller over the bridge, register as nodes
of their site with a deadline, pull the jobs, and leave when the queue is empty."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.batch_sites import BatchSite, free_ports, missing_programs, sge_site, slurm_site
from tests.e2e.cluster import Cluster
from tests.e2e.test_netns import Net, network

SRC = Path(__file__).resolve().parents[2] / "src"
N_JOBS = int(os.environ.get("CORRAL_PILOT_TEST_JOBS", "200"))  # the issue asks 200
SLURM, SGE = "slurm-a", "sge-b"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="Slurm and Grid Engine daemons run as root"),
    pytest.mark.skipif(bool(missing_programs()),
                       reason=f"Slurm/Grid Engine not installed ({', '.join(missing_programs())}"
                              "; scripts/install-test-deps installs them)"),
]


@dataclass
class Grid:
    cluster: Cluster
    slurm: BatchSite
    sge: BatchSite
    runs: Path  # each job run appends "start|end JOBID NODE" here
    factory: subprocess.Popen[bytes]
    seen: dict[str, set[str]] = field(default_factory=lambda: {"slurm": set(), "sge": set()})

    def look(self) -> None:
        """Note the pilots the batch systems list now (squeue, qstat)."""
        for site in (self.slurm, self.sge):
            self.seen[site.kind] |= set(site.queue())

    def sites(self) -> dict[str, dict[str, object]]:
        out = json.loads(self.cluster.corral("sites", "--json").stdout)
        return {s["name"]: s for s in out["sites"]}

    def lines(self) -> list[list[str]]:
        if not self.runs.exists():
            return []
        return [line.split() for line in self.runs.read_text().splitlines() if line.strip()]

    def submit(self, script: str, **opts: object) -> int:
        with self.cluster.client() as c:
            return c.submit(script=f"#!/bin/sh\n{script}\n", name="p",
                            working_dir=str(self.runs.parent), **opts)

    def wait_done(self, ids: list[int], timeout_s: float) -> dict[int, dict[str, object]]:
        deadline = time.monotonic() + timeout_s
        with self.cluster.client() as c:
            while True:
                self.look()
                jobs = {i: c.job(i) for i in ids}
                if all(j["state"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
                                      "NODE_FAIL") for j in jobs.values()):
                    return jobs
                if time.monotonic() > deadline:
                    states = Counter(str(j["state"]) for j in jobs.values())
                    raise AssertionError(f"jobs not done in {timeout_s} s: {dict(states)}\n"
                                         f"{self.cluster.corral('sites', '-l').stdout}")
                time.sleep(0.5)

    def wait_pilots_gone(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            queues = {s.kind: s.queue() for s in (self.slurm, self.sge)}
            pilots = sum(int(str(s["pilots"])) for s in self.sites().values())
            if not any(queues.values()) and pilots == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"pilots still there after {timeout_s} s: {queues}, "
                                     f"{pilots} registered")
            time.sleep(0.5)


RECORD = 'echo "start $CORRAL_JOB_ID $CORRAL_NODENAME" >> runs.log'
DONE = 'echo "end $CORRAL_JOB_ID $CORRAL_NODENAME" >> runs.log'


def _config(root: Path, host_ip: str, port: int, slurm: BatchSite, sge: BatchSite) -> str:
    key = root / "pilots.key"
    key.write_text(secrets.token_hex(32))
    key.chmod(0o600)
    agent = ["/usr/bin/env", f"PYTHONPATH={SRC}", sys.executable, "-m", "corral.agent.main"]
    common = f"""key_file = "{key}"
controller_url = "http://{host_ip}:{port}"
pilot_mem_mb = 200
pilot_wall_time_s = 60
deadline_margin_s = 5
idle_timeout_s = 4
poll_s = 1
agent_command = {json.dumps(agent)}
"""
    return f"""
[controller]
listen = "{host_ip}:{port}"
cluster_key = "{secrets.token_hex(16)}"
node_timeout_s = 30
node_lease_s = 10
kill_grace_s = 1

[scheduler]
policy = "easy"

[[partitions]]
name = "main"
default = true
max_time_s = "1:00:00"
default_time_s = "0:30"

[[sites]]
name = "{SLURM}"
batch = "slurm"
max_pilots = 3
pilot_cpus = 2
env = {{ SLURM_CONF = "{slurm.env['SLURM_CONF']}" }}
command_prefix = {json.dumps(list(slurm.prefix))}
{common}
[[sites]]
name = "{SGE}"
batch = "sge"
max_pilots = 3
pilot_cpus = 1
env = {json.dumps(sge.env).replace('":', '" =')}
command_prefix = {json.dumps(list(sge.prefix))}
{common}"""


def _refused(port: int) -> bool:
    """Nothing listens on this host's loopback at `port` (a site's daemon is in its
    own namespace, not here)."""
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="module")
def grid() -> Iterator[Grid]:
    # the namespaces are removed last, once every daemon in them has been stopped
    with network(("sitens-a", "sitens-b")) as net:
        yield from _grid(net)


def _grid(net: Net) -> Iterator[Grid]:
    root = Path(tempfile.mkdtemp(prefix="corral-pilots-"))
    root.chmod(0o755)
    in_a = ("nsenter", f"--net=/run/netns/{net.namespaces['sitens-a']}")
    in_b = ("nsenter", f"--net=/run/netns/{net.namespaces['sitens-b']}")
    slurm = None
    sge = None
    factory = None
    cluster = None
    try:
        slurm = slurm_site(root / "slurm", cpus=6, prefix=in_a)
        sge = sge_site(root / "sge", slots=3, prefix=in_b)
        # each batch system listens in its namespace only: not on this host's loopback
        assert all(_refused(p) for p in (*slurm.ports, *sge.ports)), (slurm.ports, sge.ports)
        state = root / "state"
        state.mkdir()
        state.chmod(0o755)
        (port,) = free_ports(1)
        (state / "corral.toml").write_text(_config(root, net.host_ip, port, slurm, sge))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CORRAL_", "SLURM_", "SGE_"))}
        env["CORRAL_STATE_DIR"] = str(state)
        env["PYTHONPATH"] = str(SRC)
        cluster = Cluster(state=state, env=env)
        cluster.start_controller(timeout_s=90)  # a loaded machine: migrations take long
        work = root / "work"
        work.mkdir()
        work.chmod(0o777)
        with open(root / "factory.log", "ab") as log:
            factory = subprocess.Popen([sys.executable, "-m", "corral.cli", "pilot", "-v"],
                                       env=env, stdout=log, stderr=log,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        yield Grid(cluster, slurm, sge, work / "runs.log", factory)
    finally:
        if factory is not None:
            factory.terminate()
            factory.wait(10)
        for site in (slurm, sge):
            if site is not None:
                for job_id in site.queue():
                    site.run("scancel" if site.kind == "slurm" else "qdel", job_id)
        if cluster is not None:
            cluster.down()
        for site in (slurm, sge):
            if site is not None:
                site.down()
        if os.environ.get("CORRAL_KEEP_TEST_DIRS"):
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def test_jobs_run_through_pilots_in_both_sites(grid: Grid) -> None:
    ids = [grid.submit(f"{RECORD}\nsleep 0.5\n{DONE}", time_limit_s=20) for _ in range(N_JOBS)]
    jobs = grid.wait_done(ids, timeout_s=120)
    assert {j["state"] for j in jobs.values()} == {"COMPLETED"}
    lines = grid.lines()
    starts = Counter(int(w[1]) for w in lines if w[0] == "start")
    assert set(starts) == set(ids)
    assert max(starts.values()) == 1, [i for i, n in starts.items() if n > 1]  # never twice
    nodes = {w[2] for w in lines}
    assert any(n.startswith(f"{SLURM}-") for n in nodes), nodes
    assert any(n.startswith(f"{SGE}-") for n in nodes), nodes
    # the pilots were ordinary jobs of both batch systems
    assert grid.seen["slurm"] and grid.seen["sge"], grid.seen
    sites = grid.sites()
    assert sites[SLURM]["ended_total"] + sites[SGE]["ended_total"] >= N_JOBS  # type: ignore[operator]
    # the queue is empty: they leave, and their batch jobs end
    grid.wait_pilots_gone(timeout_s=30)


def test_jobs_that_require_a_site_run_only_there(grid: Grid) -> None:
    on_sge = [grid.submit(RECORD, time_limit_s=20, requirements=f'other.Site == "{SGE}"')
              for _ in range(3)]
    out = grid.cluster.corral("submit", "--site", SLURM, "-t", "0:20", "--parsable",
                              "--wrap", RECORD, cwd=grid.runs.parent)
    on_slurm = [int(out.stdout.strip().split(";")[0])]
    # the first table (the sites); the usage per account follows after a blank line
    table = grid.cluster.corral("sites").stdout.split("\n\n")[0].splitlines()
    assert table[0].split()[:3] == ["SITE", "BATCH", "PILOTS"], table
    assert {line.split()[0]: line.split()[1] for line in table[1:]} == \
        {SLURM: "slurm", SGE: "sge"}, table
    grid.wait_done(on_sge + on_slurm, timeout_s=60)
    where = {int(w[1]): w[2] for w in grid.lines() if w[0] == "start"}
    assert all(where[i].startswith(f"{SGE}-") for i in on_sge), where
    assert where[on_slurm[0]].startswith(f"{SLURM}-"), where


def test_a_job_longer_than_a_pilot_has_left_waits_for_a_new_one(grid: Grid) -> None:
    grid.wait_pilots_gone(timeout_s=40)  # the pilots of the tests before have left
    on_slurm = f'other.Site == "{SLURM}"'
    first = grid.submit(f"{RECORD}\nsleep 22", time_limit_s=30, requirements=on_slurm)
    with grid.cluster.client() as c:
        deadline = time.monotonic() + 60
        while c.job(first)["state"] != "RUNNING":
            assert time.monotonic() < deadline, c.job(first)
            time.sleep(0.2)
        pilot = c.job(first)["node_list"][0]
        node = next(n for n in c.nodes() if n["name"] == pilot)
        # once the pilot has less than 45 s left, a 45 s job does not fit on it,
        # though one of its 2 CPUs is free: it waits, and a new pilot takes it
        time.sleep(max(0.0, node["t_deadline"] - 45 - time.time() + 1))
        long_job = grid.submit(RECORD, time_limit_s=45, requirements=on_slurm)
        deadline = time.monotonic() + 15
        while True:
            waiting = c.job(long_job)
            assert waiting["node_list"] != [pilot], waiting
            if waiting["state"] == "PENDING" and waiting["reason"] == "NodeDeadline":
                break
            assert time.monotonic() < deadline and waiting["state"] == "PENDING", waiting
            time.sleep(0.1)
        explained = grid.cluster.corral("explain", str(long_job)).stdout
        assert pilot in explained and "lives long enough" in explained, explained
    grid.wait_done([first, long_job], timeout_s=90)
    where = {int(w[1]): w[2] for w in grid.lines() if w[0] == "start"}
    assert where[first] == pilot
    assert where[long_job] != pilot and where[long_job].startswith(f"{SLURM}-"), where


def test_a_pilot_killed_by_scancel_loses_its_job_which_runs_once_elsewhere(grid: Grid) -> None:
    marker = grid.runs.parent / "killed-once"
    # Slurm signals the pilot's job's processes, the corral job's among them: the
    # killed first run ends at its sleep, never at its last line
    job = grid.submit(f"{RECORD}\nif [ -e {marker} ]; then sleep 1; else touch {marker}; "
                      f"sleep 30 || exit 1; fi\n{DONE}", time_limit_s=40,
                      requirements=f'other.Site == "{SLURM}"')
    with grid.cluster.client() as c:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert time.monotonic() < deadline, c.job(job)
            time.sleep(0.2)
        first_node = c.job(job)["node_list"][0]
        batch_job = next(n["batch_job"] for n in c.nodes() if n["name"] == first_node)
    assert batch_job in grid.slurm.queue()
    grid.slurm.run("scancel", batch_job)
    done = grid.wait_done([job], timeout_s=90)[job]
    assert done["state"] == "COMPLETED", done
    runs = [w for w in grid.lines() if w[1] == str(job)]
    starts = [w[2] for w in runs if w[0] == "start"]
    ends = [w[2] for w in runs if w[0] == "end"]
    assert len(starts) == 2 and starts[0] == first_node, runs
    assert ends == [starts[1]] and starts[1] != first_node, runs  # once, elsewhere
    events = grid.cluster.corral("events", str(job)).stdout
    assert "REQUEUED" in events or "requeue" in events.lower(), events
    grid.wait_pilots_gone(timeout_s=40)
