"""Generic resources other than GPUs end to end: a node configured with one NVMe
disk and two FPGAs; jobs hold them, wait for them, see them, are refused when no node
has them (docs/resources.md)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, temp_cluster

HOLD = ('echo "$CORRAL_JOB_GRES $SLURM_JOB_GRES" > {out}; '
        "n=0; while [ ! -e {go} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done")


@pytest.fixture
def gres_cluster() -> Iterator[Cluster]:
    with temp_cluster("corral-gres-", cpus=4,
                      extra_config='gres = {nvme = 1, "fpga:xilinx" = 2}') as c:
        yield c


def _tool(c: Cluster, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], env=c.env,
                          capture_output=True, text=True, timeout=60)


def _submit(c: Cluster, tmp: Path, name: str, *opts: str) -> int:
    script = HOLD.format(out=tmp / f"{name}.out", go=tmp / f"{name}.go")
    return int(c.corral("submit", "--parsable", "-o", "/dev/null", *opts,
                        "--wrap", script).stdout)


def _seen(tmp: Path, name: str, timeout_s: float = 20) -> str:
    path = tmp / f"{name}.out"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"job {name} never wrote its generic resources")


def test_jobs_hold_wait_for_and_see_their_generic_resources(gres_cluster: Cluster,
                                                           tmp_path: Path) -> None:
    c = gres_cluster
    a = _submit(c, tmp_path, "a", "--gres", "nvme")
    assert _seen(tmp_path, "a") == "nvme:1 nvme:1"
    b = _submit(c, tmp_path, "b", "--gres", "nvme:1")  # the only NVMe is a's
    plain = _submit(c, tmp_path, "plain")  # passes it: it needs none
    _seen(tmp_path, "plain")
    job = c.show(b)
    assert job["state"] == "PENDING" and job["reason"] == "Resources", job
    explained = c.corral("explain", str(b)).stdout
    assert "nvme: asks 1 per node; free: node1 0 of 1" in explained, explained
    p = _tool(c, "corral.compat.slurm.sbatch", "--parsable", "--gres=fpga:xilinx:2",
              "-o", "/dev/null", "--wrap",
              HOLD.format(out=tmp_path / "f.out", go=tmp_path / "f.go"))
    f = int(p.stdout.strip().split(";")[0])
    assert _seen(tmp_path, "f") == "fpga:xilinx:2 fpga:xilinx:2"
    node = _tool(c, "corral.compat.slurm.scontrol", "show", "node", "node1").stdout
    assert "Gres=fpga:xilinx:2,nvme:1" in node, node
    assert _tool(c, "corral.compat.slurm.sinfo", "-h", "-o", "%G").stdout.split() == [
        "fpga:xilinx:2,nvme:1"]
    assert _tool(c, "corral.compat.slurm.sinfo", "-h", "-O", "GresUsed").stdout.split() == [
        "fpga:xilinx:2,nvme:1"]
    hosts = _tool(c, "corral.compat.sge.qhost", "-F").stdout
    assert "   hc:fpga:xilinx=0.000000\n   hc:nvme=0.000000\n" in hosts, hosts
    listed = c.corral("nodes").stdout
    assert "GRES(A/T)" in listed and "fpga:xilinx:2/2,nvme:1/1" in listed, listed
    with c.client() as client:
        [n] = client.nodes()
    assert (n["gres"], n["gres_used"]) == ({"fpga:xilinx": 2, "nvme": 1},
                                           {"fpga:xilinx": 2, "nvme": 1})
    for name in ("a", "plain", "f"):
        (tmp_path / f"{name}.go").touch()
    for job_id in (a, plain, f):
        assert c.wait(job_id)["state"] == "COMPLETED"
    assert _seen(tmp_path, "b") == "nvme:1 nvme:1"  # a gave it back
    (tmp_path / "b.go").touch()
    assert c.wait(b)["state"] == "COMPLETED"


def test_a_generic_resource_no_node_has_is_refused_at_submit(gres_cluster: Cluster) -> None:
    c = gres_cluster
    p = c.corral("submit", "--gres", "ssd:1", "--wrap", "true", check=False)
    assert p.returncode == 1 and p.stderr.strip().endswith(
        "gres: asks ssd:1; no node of partition 'main' has ssd "
        "(have: fpga:xilinx:2, nvme:1)"), p.stderr
    p = c.corral("submit", "--gres", "nvme:2", "--wrap", "true", check=False)
    assert p.returncode == 1 and p.stderr.strip().endswith(
        "gres: asks nvme:2 per node; the most a node of partition 'main' has is 1"), p.stderr
    p = c.corral("submit", "--gres", "nvme:0", "--wrap", "true", check=False)
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "gres: 'nvme:0': the count must be 1-" in p.stderr, p.stderr
    p = _tool(c, "corral.compat.slurm.sbatch", "--gres=fpga:intel:1", "--wrap", "true")
    assert p.returncode != 0 and "no node of partition 'main' has fpga:intel" in p.stderr, \
        p.stderr
