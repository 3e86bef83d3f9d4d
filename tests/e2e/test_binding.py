"""Jobs bound to particular CPUs of this (2-CPU) machine: each job reads, from the
kernel, the CPUs it may run on (docs/resources.md)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster

if os.sched_getaffinity(0) != {0, 1}:
    pytest.skip("written for a machine whose CPUs are 0 and 1 (as the cluster's node)",
                allow_module_level=True)

# Writes the CPUs the kernel lets the job run on, then waits (bounded) for `go`.
HOLD = ("grep Cpus_allowed_list /proc/self/status | cut -f2 > {out}; "
        "echo \"$CORRAL_JOB_CPUS $SLURM_CPU_BIND_LIST\" >> {out}; "
        "n=0; while [ ! -e {go} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done")


def _submit(c: Cluster, tmp: Path, name: str, cpus: int, *extra: str) -> int:
    script = HOLD.format(out=tmp / f"{name}.out", go=tmp / f"{name}.go")
    return int(c.corral("submit", "--parsable", "-c", str(cpus), "-o", str(tmp / "log"),
                        *extra, "--wrap", script).stdout)


def _cpus(tmp: Path, name: str, timeout_s: float = 20) -> list[str]:
    """[the kernel's CPU list, CORRAL_JOB_CPUS, SLURM_CPU_BIND_LIST] of the job."""
    path = tmp / f"{name}.out"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = path.read_text().split("\n") if path.exists() else []
        if len(lines) >= 2 and lines[1]:
            return [lines[0], *lines[1].split()]
        time.sleep(0.05)
    raise AssertionError(f"job {name} never wrote its CPUs")


def _release(c: Cluster, tmp: Path, *named: tuple[str, int]) -> None:
    for name, _ in named:
        (tmp / f"{name}.go").touch()
    for name, job_id in named:
        assert c.wait(job_id)["state"] == "COMPLETED", name


def test_jobs_get_cores_of_their_own_and_a_third_waits(cluster: Cluster,
                                                       tmp_path: Path) -> None:
    c = cluster
    [node] = json.loads(c.corral("nodes", "--json").stdout)["nodes"]
    assert node["topology"]["threads"] == 2 and node["topology"]["cpu_list"] == "0-1"
    a, b = _submit(c, tmp_path, "a", 1), _submit(c, tmp_path, "b", 1)
    cpu_a, cpu_b = _cpus(tmp_path, "a"), _cpus(tmp_path, "b")
    assert c.wait_state(a, {"RUNNING"})["state"] == "RUNNING"
    assert c.wait_state(b, {"RUNNING"})["state"] == "RUNNING"  # both at once ...
    assert {cpu_a[0], cpu_b[0]} == {"0", "1"}, (cpu_a, cpu_b)  # ... on different CPUs
    assert cpu_a[1] == cpu_a[0] and cpu_a[2] == hex(1 << int(cpu_a[0]))
    third = _submit(c, tmp_path, "third", 1)
    time.sleep(1.0)
    job = c.show(third)
    assert job["state"] == "PENDING" and job["reason"] == "Resources", job
    _release(c, tmp_path, ("a", a), ("b", b))
    assert _cpus(tmp_path, "third")[0] in ("0", "1")
    _release(c, tmp_path, ("third", third))
    both = _submit(c, tmp_path, "both", 2)
    assert _cpus(tmp_path, "both")[:2] == ["0-1", "0-1"]
    _release(c, tmp_path, ("both", both))
    free = _submit(c, tmp_path, "free", 1, "--cpu-bind", "none")
    assert _cpus(tmp_path, "free", 20)[0] == "0-1"  # not bound: every CPU, no variable
    _release(c, tmp_path, ("free", free))


def _kill9_agent(c: Cluster) -> None:
    pid = c.pid("agent")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                break
        time.sleep(0.02)


def test_a_readopted_job_keeps_its_core(cluster: Cluster, tmp_path: Path) -> None:
    c = cluster
    first = _submit(c, tmp_path, "first", 1)
    held = _cpus(tmp_path, "first")[0]
    _kill9_agent(c)
    out = c.corral("up", "--node", "node1").stdout
    assert "agent started" in out, out
    second = _submit(c, tmp_path, "second", 1)
    assert c.wait_state(second, {"RUNNING"})["state"] == "RUNNING"
    assert c.show(first)["state"] == "RUNNING"
    got = _cpus(tmp_path, "second")[0]
    assert {held, got} == {"0", "1"}, (held, got)  # the new agent knew "first"'s CPU
    _release(c, tmp_path, ("first", first), ("second", second))
