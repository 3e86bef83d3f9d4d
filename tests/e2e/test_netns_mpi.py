"""MPI for real: an MPICH program (Debian's mpich) passes a token around 4 ranks on two
agents in network namespaces, started by srun (corral's PMI server), by mpiexec in
an allocation (MPICH's Hydra launching through srun) and as a JDL of JobType MPICH;
the same program built with Debian's Open MPI runs under mpirun in an allocation
(its Slurm launcher starting its daemons through srun). Skipped without mpicc /
mpicc.openmpi. Each agent has a host name of its own (a UTS namespace), as
cluster nodes do."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_netns import NODES, Net, NetCluster, _batch, _wait, net, net_cluster

__all__ = ["net"]  # the fixture, used by name

RING = Path(__file__).parent / "data" / "ring.c"
# every rank talks over the network, not through shared memory: both namespaces share
# this machine's /dev/shm and host name, which MPICH would otherwise take as one node
NOLOCAL = "export MPIR_CVAR_NOLOCAL=1\n"


def _own_host_name(node: str, work: Path) -> list[str]:
    """Each agent in a UTS namespace whose host name is its node's, as on a cluster:
    Open MPI's daemons name their node by its host name."""
    return ["unshare", "-u", "sh", "-c", 'hostname "$0" && exec "$@"', node]


@pytest.fixture(scope="module")
def netcluster(net: Net) -> Iterator[NetCluster]:
    with net_cluster(net, _own_host_name) as nc:
        yield nc


@pytest.fixture(scope="module")
def ring(netcluster: NetCluster) -> Path:
    if shutil.which("mpicc") is None:
        pytest.skip("MPICH is not installed (apt-get install mpich libmpich-dev)")
    exe = netcluster.work / "ring"
    subprocess.run(["mpicc", "-O1", "-o", str(exe), str(RING)], check=True, timeout=120)
    return exe


def _ranks(text: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(3)
            for m in re.finditer(r"^rank (\d+) of (\d+) on (\S+)$", text, re.M)}


def test_srun_starts_mpi_ranks_across_two_nodes(netcluster: NetCluster, ring: Path) -> None:
    script = (f"#!/bin/sh\n#SBATCH -N 2 -n 4 -o mpi-%j.out\n{NOLOCAL}"
              f"srun --mpi=pmi2 {ring}\n")
    job, text = _batch(netcluster, script, "mpi-%j.out")
    assert job["state"] == "COMPLETED", (job, text)
    assert "ring of 4 done: token 4" in text, text
    ranks = _ranks(text)
    assert sorted(ranks) == [0, 1, 2, 3] and set(ranks.values()) == set(NODES), text


def test_mpiexec_in_an_allocation_launches_through_srun(netcluster: NetCluster, net: Net,
                                                        ring: Path) -> None:
    # salloc runs here, on the bridge: mpiexec's proxies on the nodes call back to it
    # there (-iface), as on a cluster whose nodes reach the login host on one network
    p = netcluster.run("salloc", "-N", "2", "-n", "4", "sh", "-c",
                       f"{NOLOCAL}mpiexec -launcher slurm -iface {net.bridge} -n 4 {ring}")
    assert "ring of 4 done: token 4" in p.stdout, (p.stdout, p.stderr)
    ranks = _ranks(p.stdout)
    assert sorted(ranks) == [0, 1, 2, 3] and set(ranks.values()) == set(NODES), p.stdout


def test_an_mpich_jdl_wires_its_ranks_up_across_two_nodes(netcluster: NetCluster,
                                                          ring: Path) -> None:
    """JobType MPICH: NodeNumber ranks, SMPGranularity per node, started through srun's
    PMI server, as a gLite user submits it."""
    jdl = netcluster.work / "ring.jdl"
    jdl.write_text(f"""[
  JobType = "MPICH";
  Executable = "{ring}";
  NodeNumber = 4;
  SMPGranularity = 2;
  StdOutput = "ring-jdl.out";
  Environment = {{"MPIR_CVAR_NOLOCAL=1"}};
]
""")
    p = netcluster.run("glite-wms-job-submit", "-a", "--nomsg", str(jdl))
    job_id = int(p.stdout.strip().rsplit("/", 1)[1])
    job = _wait(netcluster.cluster, job_id)
    text = (netcluster.work / "ring-jdl.out").read_text()
    assert job["state"] == "COMPLETED", (job, text)
    assert (job["spec"]["nodes"], job["spec"]["cpus_per_node"]) == (2, 2)  # type: ignore[index]
    assert "ring of 4 done: token 4" in text, text
    ranks = _ranks(text)
    assert sorted(ranks) == [0, 1, 2, 3] and set(ranks.values()) == set(NODES), text


@pytest.fixture(scope="module")
def ompi_ring(netcluster: NetCluster) -> Path:
    if shutil.which("mpicc.openmpi") is None or shutil.which("mpirun.openmpi") is None:
        pytest.skip("Open MPI is not installed (apt-get install openmpi-bin libopenmpi-dev)")
    exe = netcluster.work / "ring-ompi"
    subprocess.run(["mpicc.openmpi", "-O1", "-o", str(exe), str(RING)], check=True,
                   timeout=120)
    return exe


def test_open_mpi_mpirun_in_an_allocation_starts_its_daemons_through_srun(
        netcluster: NetCluster, net: Net, ompi_ring: Path) -> None:
    """Open MPI's mpirun inside salloc: its Slurm launcher starts one orted per node
    with corral's srun; the daemons call back to mpirun on the bridge, start the
    ranks, which pass the token over TCP between the namespaces."""
    subnet = net.host_ip.rsplit(".", 1)[0] + ".0/24"
    p = netcluster.run(
        "salloc", "-N", "2", "-n", "4", "mpirun.openmpi", "--allow-run-as-root",
        "--mca", "plm", "slurm", "--mca", "oob_tcp_if_include", subnet,
        "--mca", "btl_tcp_if_include", subnet, "--mca", "btl", "tcp,self", "-n", "4",
        str(ompi_ring))
    assert "ring of 4 done: token 4" in p.stdout, (p.stdout, p.stderr)
    ranks = _ranks(p.stdout)
    assert sorted(ranks) == [0, 1, 2, 3] and set(ranks.values()) == set(NODES), p.stdout
