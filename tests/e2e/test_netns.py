"""Two nodes on a network of their own (network namespaces joined by a bridge): a
controller on TCP, an agent in each namespace, multi-node steps whose output crosses
from one namespace to the other."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.compat.install import install
from tests.e2e.cluster import FINAL, Cluster, make_cluster

KEY = "netns-cluster-key-5678"
NODES = ("nsa", "nsb")


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


@dataclass
class Net:
    bridge: str
    namespaces: dict[str, str]  # node -> namespace
    host_ip: str
    node_ip: dict[str, str]


@contextlib.contextmanager
def network(names: tuple[str, ...]) -> Iterator[Net]:
    """A bridge on this host (its address: `host_ip`) and a network namespace joined to
    it for each name (skips the test where they cannot be made)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = uuid.uuid4().hex[:6]
    subnet = f"10.{random.randint(100, 250)}.{random.randint(0, 250)}"
    n = Net(f"crlbr{tag}", {node: f"corral-{tag}-{node}" for node in names},
            f"{subnet}.1", {node: f"{subnet}.{i + 2}" for i, node in enumerate(names)})
    try:
        _ip("link", "add", n.bridge, "type", "bridge")
        _ip("addr", "add", f"{n.host_ip}/24", "dev", n.bridge)
        _ip("link", "set", n.bridge, "up")
        for i, (node, ns) in enumerate(n.namespaces.items()):
            outer, inner = f"crl{tag}{i}", f"crl{tag}{i}p"
            _ip("netns", "add", ns)
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", ns)
            _ip("link", "set", outer, "master", n.bridge)
            _ip("link", "set", outer, "up")
            _ip("addr", "add", f"{n.node_ip[node]}/24", "dev", inner, ns=ns)
            _ip("link", "set", inner, "up", ns=ns)
            _ip("link", "set", "lo", "up", ns=ns)
    except (subprocess.CalledProcessError, OSError) as e:
        _teardown(n)
        pytest.skip(f"cannot build the test network: {e}")
    try:
        yield n
    finally:
        _teardown(n)


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    with network(NODES) as n:
        yield n


def _teardown(n: Net) -> None:
    for ns in n.namespaces.values():
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    subprocess.run(["ip", "link", "del", n.bridge], capture_output=True, timeout=10)


@dataclass
class NetCluster:
    cluster: Cluster
    bin: Path
    work: Path

    @property
    def env(self) -> dict[str, str]:
        return {**self.cluster.env, "PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin')}"}

    def run(self, *args: str, rc: int = 0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(list(args), env=self.env, cwd=self.work, capture_output=True,
                           text=True, timeout=60, input=input)
        assert "Traceback" not in p.stderr, p.stderr
        assert p.returncode == rc, (args, p.returncode, p.stdout, p.stderr)
        return p


@contextlib.contextmanager
def net_cluster(net: Net, wrap: Callable[[str, Path], list[str]] | None = None,
                cpus: int = 2) -> Iterator[NetCluster]:
    """A controller on the bridge and an agent of `cpus` CPUs in each namespace (the
    local node drained), the drop-in commands installed. `wrap(node, work)`: words run
    before each agent's command inside its namespace (e.g. a mount namespace of its
    own)."""
    root = Path(tempfile.mkdtemp(prefix="corral-netns-"))
    root.chmod(0o755)
    work = root / "work"
    work.mkdir()
    work.chmod(0o777)
    port = random.randint(20000, 40000)
    c = make_cluster(root, controller_config=(
        f'listen = "{net.host_ip}:{port}"\ncluster_key = "{KEY}"\n'))
    try:
        for node, ns in net.namespaces.items():
            c.start_agent(node, cpus=cpus, controller=f"http://{net.host_ip}:{port}",
                          cluster_key=KEY,
                          prefix=("ip", "netns", "exec", ns, *(wrap(node, work) if wrap else [])))
        c.wait_idle(*NODES)
        with c.client() as cl:
            cl.drain("node1", "the multi-node tests use the namespaced nodes")
        install(root / "bin")
        yield NetCluster(c, root / "bin", work)
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def netcluster(net: Net) -> Iterator[NetCluster]:
    with net_cluster(net) as nc:
        yield nc


def _wait(c: Cluster, job_id: int) -> dict[str, object]:
    deadline = time.monotonic() + 60
    with c.client() as cl:
        while True:
            job = cl.wait(job_id, timeout_s=5)
            if job["state"] in FINAL or time.monotonic() > deadline:
                return job


def _batch(nc: NetCluster, script: str, output: str) -> tuple[dict[str, object], str]:
    """Submit a script, wait for its end: the job and its output file (`%j` filled)."""
    job_id = int(nc.run("sbatch", "--parsable", input=script).stdout)
    job = _wait(nc.cluster, job_id)
    return job, (nc.work / output.replace("%j", str(job_id))).read_text()


def test_a_two_node_step_runs_in_both_namespaces(netcluster: NetCluster, net: Net) -> None:
    script = ("#!/bin/sh\n#SBATCH -N 2 -n 4 -o wide-%j.out\n"
              "srun -l sh -c 'echo $SLURMD_NODENAME $SLURM_NODEID $(readlink /proc/self/ns/net)'\n")
    job, text = _batch(netcluster, script, "wide-%j.out")
    assert job["state"] == "COMPLETED", (job, text)
    rows = sorted(line.split() for line in text.splitlines())
    # ranks 0,1 on the job's first node and 2,3 on its second (block distribution)
    first, second = job["node_list"]  # type: ignore[misc]
    assert {first, second} == set(NODES)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("0:", first, "0"), ("1:", first, "0"), ("2:", second, "1"), ("3:", second, "1")], text
    spaces = {r[1]: r[3] for r in rows}
    assert len(set(spaces.values())) == 2, spaces  # two network namespaces
    assert os.readlink("/proc/self/ns/net") not in spaces.values()


def test_salloc_from_the_controller_host_reaches_both_nodes(netcluster: NetCluster) -> None:
    p = netcluster.run("salloc", "-N", "2", "srun", "-l", "sh", "-c",
                       "echo $SLURMD_NODENAME $SLURM_STEP_NUM_NODES")
    rows = sorted(p.stdout.splitlines())
    assert [r[:3] for r in rows] == ["0: ", "1: "] and {r.split()[1] for r in rows} == set(NODES)
    assert all(r.endswith(" 2") for r in rows), (p.stdout, p.stderr)


def _events(c: Cluster, job_id: int) -> list[dict[str, object]]:
    with c.client() as cl:
        return [e["data"] for e in cl.events(job_id) if e["kind"] == "step"]


def test_memory_is_held_on_every_node_of_a_step(netcluster: NetCluster) -> None:
    """The task on the node without the batch script goes over the job's memory per
    node: that node's agent kills it; the batch script learns it from srun."""
    script = ("#!/bin/sh\n#SBATCH -N 2 -n 2 --mem 200M -o oom-%j.out\n"
              "srun -l sh -c 'if [ $SLURM_NODEID = 1 ]; then python3 -c "
              "\"x = bytearray(400*1024*1024); import time; time.sleep(20)\"; "
              "else sleep 1; fi'\necho batch-rc=$?\n")
    job, text = _batch(netcluster, script, "oom-%j.out")
    assert job["state"] == "COMPLETED", (job, text)
    second = job["node_list"][1]  # type: ignore[index]
    assert f"srun: error: {second}: task 1: Out Of Memory" in text, text
    assert "over its 200 MiB per node" in text and "batch-rc=137" in text, text
    ends = [e for e in _events(netcluster.cluster, int(str(job["id"]))) if e["action"] == "end"]
    assert [e["state"] for e in ends] == ["OUT_OF_MEMORY"], ends


def test_sstat_reads_every_node_of_the_job(netcluster: NetCluster) -> None:
    script = ("#!/bin/sh\n#SBATCH -N 2 -n 2 -o use-%j.out\n"
              "srun sh -c 'python3 -c \"import os, time; "
              "x = bytearray((int(os.environ[\\\"SLURM_NODEID\\\"]) + 1) * 80 * 1024 * 1024); "
              "time.sleep(25)\"'\n")
    job_id = int(netcluster.run("sbatch", "--parsable", input=script).stdout)
    try:
        deadline = time.monotonic() + 30
        cells: list[str] = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            out = netcluster.run("sstat", "-j", str(job_id), "-P", "-n", "-o",
                                 "JobID,NTasks,MaxRSS,MaxRSSNode,AveRSS").stdout.strip()
            cells = out.split("|") if out else []
            if cells and cells[1] == "2" and int(cells[2].rstrip("K")) >= 150 * 1024:
                break
        with netcluster.cluster.client() as cl:
            second = cl.job(job_id)["node_list"][1]
        assert cells[:2] == [f"{job_id}.batch", "2"], cells
        assert int(cells[2].rstrip("K")) >= 150 * 1024 and cells[3] == second, cells
        assert int(cells[4].rstrip("K")) >= 100 * 1024, cells  # (80 + 160) / 2 MiB, roughly
    finally:
        netcluster.run("scancel", str(job_id))


def test_cyclic_distribution_and_a_chosen_node(netcluster: NetCluster) -> None:
    script = ("#!/bin/sh\n#SBATCH -N 2 -n 4 -o pick-%j.out\n"
              "srun -m cyclic -l sh -c 'echo $SLURMD_NODENAME'\n"
              "echo ---\n"
              "srun -w \"$(echo $SLURM_JOB_NODELIST | cut -d, -f2)\" -n 2 -l "
              "sh -c 'echo $SLURMD_NODENAME'\n")
    job, text = _batch(netcluster, script, "pick-%j.out")
    assert job["state"] == "COMPLETED", (job, text)
    first, second = job["node_list"]  # type: ignore[misc]
    cyclic, chosen = text.split("---\n")
    assert sorted(cyclic.splitlines()) == [f"0: {first}", f"1: {second}", f"2: {first}",
                                           f"3: {second}"], text
    assert sorted(chosen.splitlines()) == [f"0: {second}", f"1: {second}"], text
