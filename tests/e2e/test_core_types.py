"""The scheduler chooses a job's CPUs (docs/resources.md): on this machine's 2 CPUs,
read by the agent as a hybrid CPU (a synthesized /sys tree: CPU 0 a performance core,
CPU 1 an efficiency core), a job asking for a core type runs on that core, and a
second job asking for the busy type waits although a CPU of the other type is free,
also after a controller restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster

if os.sched_getaffinity(0) != {0, 1}:
    pytest.skip("written for a machine whose CPUs are 0 and 1 (as the cluster's node)",
                allow_module_level=True)

# Writes the CPUs the kernel lets the job run on, then waits (bounded) for `go`.
HOLD = ("grep Cpus_allowed_list /proc/self/status | cut -f2 > {out}; "
        "n=0; while [ ! -e {go} ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done")


def hybrid_tree(root: Path) -> Path:
    """/sys of a 1-socket, 1-NUMA-domain machine with CPU 0 a performance core and
    CPU 1 an efficiency core (the core types as Intel's hybrid PMUs list them)."""
    sys = root / "sys" / "devices"
    cpu = sys / "system" / "cpu"
    cpu.mkdir(parents=True)
    (cpu / "online").write_text("0-1\n")
    for i in (0, 1):
        top = cpu / f"cpu{i}" / "topology"
        top.mkdir(parents=True)
        (top / "physical_package_id").write_text("0\n")
        (top / "core_id").write_text(f"{i}\n")
        (top / "thread_siblings_list").write_text(f"{i}\n")
    node = sys / "system" / "node" / "node0"
    node.mkdir(parents=True)
    (node / "cpulist").write_text("0-1\n")
    for pmu, cpus in (("cpu_core", "0"), ("cpu_atom", "1")):
        (sys / pmu).mkdir()
        (sys / pmu / "cpus").write_text(f"{cpus}\n")
    return root


def _submit(c: Cluster, tmp: Path, name: str, *extra: str) -> int:
    script = HOLD.format(out=tmp / f"{name}.out", go=tmp / f"{name}.go")
    return int(c.corral("submit", "--parsable", "-c", "1", "-o", str(tmp / "log"),
                        *extra, "--wrap", script).stdout)


def _allowed(tmp: Path, name: str, timeout_s: float = 20) -> str:
    path = tmp / f"{name}.out"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"job {name} never wrote its CPUs")


def _stays_pending(c: Cluster, job_id: int, for_s: float = 2.0) -> dict[str, object]:
    deadline = time.monotonic() + for_s
    job = c.show(job_id)
    while time.monotonic() < deadline:
        job = c.show(job_id)
        assert job["state"] == "PENDING", job
        time.sleep(0.2)
    return job


def test_core_types_are_scheduled_per_cpu(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-core-types-"))
    root.chmod(0o755)
    tree = hybrid_tree(root / "tree")
    c = make_cluster(root, cpus=2, env_extra={"CORRAL_TOPOLOGY_ROOT": str(tree)})
    try:
        p1 = _submit(c, tmp_path, "p1", "--core-type=performance")
        assert _allowed(tmp_path, "p1") == "0"
        assert c.show(p1)["cpu_ids"] == {"node1": [0]}
        p2 = _submit(c, tmp_path, "p2", "--core-type=performance")
        e1 = _submit(c, tmp_path, "e1", "--core-type=efficiency")
        assert _allowed(tmp_path, "e1") == "1"
        waiting = _stays_pending(c, p2)
        assert waiting["reason"] == "Resources", waiting
        explained = " ".join(c.client().explain(p2)["explanation"])
        assert "no node has that many free now (node1 0 of 1)" in explained, explained

        # what the job shows: corral show, scontrol -d show job (Slurm's CPU_IDs=)
        shown = c.corral("show", str(p1)).stdout
        assert "CPUIDs       node1:0" in shown, shown
        detail = subprocess.run([sys.executable, "-m", "corral.compat.slurm.scontrol", "-d",
                                 "show", "job", str(e1)], env=c.env, capture_output=True,
                                text=True, check=True, timeout=30).stdout
        assert "Nodes=node1 CPU_IDs=1 Mem=" in detail, detail

        # a restarted controller knows CPU 0 is still p1's: p2 keeps waiting
        c.kill9_controller()
        c.start_controller()
        assert c.show(p1)["cpu_ids"] == {"node1": [0]}
        _stays_pending(c, p2)

        (tmp_path / "p1.go").touch()
        assert c.wait(p1)["state"] == "COMPLETED"
        assert _allowed(tmp_path, "p2") == "0"
        assert c.show(p2)["cpu_ids"] == {"node1": [0]}
        for name, job_id in (("p2", p2), ("e1", e1)):
            (tmp_path / f"{name}.go").touch()
            assert c.wait(job_id)["state"] == "COMPLETED", name
    finally:
        for name in ("p1", "p2", "e1"):
            (tmp_path / f"{name}.go").touch()
        c.down()
        shutil.rmtree(root, ignore_errors=True)
