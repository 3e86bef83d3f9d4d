"""GPU affinity end to end on a recorded 2-socket, 6-GPU machine (IBM AC922, 3 GPUs
near each socket): the agent reads the recorded tree (CORRAL_TOPOLOGY_ROOT), the
controller gives a job GPUs of one socket, the agent CPUs of that socket's NUMA
domain, and the job's variables name them (docs/resources.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.agent.topology import parse_cpulist
from tests.e2e.cluster import Cluster, temp_cluster

AC922 = Path(__file__).parent.parent / "agent" / "data" / "topology" / "power9-2socket-6gpu"
SOCKET0, SOCKET8 = set(range(16)), set(range(88, 104))
HOLD = ('echo "$CUDA_VISIBLE_DEVICES $ROCR_VISIBLE_DEVICES $CORRAL_JOB_CPUS '
        '$CUDA_DEVICE_ORDER" > {out}; '
        "n=0; while [ ! -e {go} ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n+1)); done")


@pytest.fixture
def gpu_cluster() -> Iterator[Cluster]:
    with temp_cluster("corral-gpu-", cpus=32, extra_config="gpus = 6",
                      env_extra={"CORRAL_TOPOLOGY_ROOT": str(AC922)}) as c:
        yield c


def _submit(c: Cluster, tmp: Path, name: str, *opts: str) -> int:
    script = HOLD.format(out=tmp / f"{name}.out", go=tmp / f"{name}.go")
    return int(c.corral("submit", "--parsable", "-o", "/dev/null", *opts,
                        "--wrap", script).stdout)


def _seen(tmp: Path, name: str, timeout_s: float = 20) -> tuple[str, str, set[int], str]:
    """The job's CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, CPUs, CUDA_DEVICE_ORDER."""
    path = tmp / f"{name}.out"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        words = path.read_text().split() if path.exists() else []
        if len(words) == 4:
            return words[0], words[1], set(parse_cpulist(words[2])), words[3]
        time.sleep(0.05)
    raise AssertionError(f"job {name} never wrote its devices")


def _release(c: Cluster, tmp: Path, *named: tuple[str, int]) -> None:
    for name, _ in named:
        (tmp / f"{name}.go").touch()
    for name, job_id in named:
        assert c.wait(job_id)["state"] == "COMPLETED", name


def test_gpus_of_one_socket_and_cores_of_its_numa_domain(gpu_cluster: Cluster,
                                                         tmp_path: Path) -> None:
    c = gpu_cluster
    a = _submit(c, tmp_path, "a", "--gpus", "2", "-c", "2")
    cuda, rocr, cpus, order = _seen(tmp_path, "a")
    assert (cuda, rocr, order) == ("0,1", "0,1", "PCI_BUS_ID") and len(cpus) == 2
    assert cpus <= SOCKET0, cpus
    # the lowest free devices would be 2 and 3, of two sockets: 3 and 4 it is
    b = _submit(c, tmp_path, "b", "--gpus", "2", "-c", "4", "--gres-flags", "enforce-binding")
    cuda, _, cpus, _ = _seen(tmp_path, "b")
    assert cuda == "3,4" and len(cpus) == 4 and cpus <= SOCKET8, cpus
    assert c.show(b)["gpu_ids"] == {"node1": [3, 4]}
    # the scheduler chose those CPUs (the job's record), the agent bound the job to them
    assert c.show(b)["cpu_ids"] == {"node1": sorted(cpus)}
    p = subprocess.run([sys.executable, "-m", "corral.compat.slurm.sbatch", "--parsable",
                        "--gres=gpu:1", "-c", "1", "-o", "/dev/null", "--wrap",
                        HOLD.format(out=tmp_path / "s.out", go=tmp_path / "s.go")],
                       env=c.env, capture_output=True, text=True, timeout=60, check=True)
    s = int(p.stdout.strip().split(";")[0])
    cuda, _, cpus, _ = _seen(tmp_path, "s")
    assert cuda == "2" and cpus <= SOCKET0 and not cpus & _seen(tmp_path, "a")[2]
    # one GPU is free: a 2-GPU job waits, and gets the devices a finished job returns
    w = _submit(c, tmp_path, "w", "--gpus", "2")
    time.sleep(1.0)
    assert c.show(w)["state"] == "PENDING"
    _release(c, tmp_path, ("b", b))
    cuda, _, cpus, _ = _seen(tmp_path, "w")
    assert cuda == "3,4" and cpus <= SOCKET8
    _release(c, tmp_path, ("a", a), ("s", s), ("w", w))


def _kill9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    return
        except FileNotFoundError:
            return
        time.sleep(0.02)


def test_a_restarted_agent_keeps_a_running_jobs_gpus_and_cpus(gpu_cluster: Cluster,
                                                              tmp_path: Path) -> None:
    c = gpu_cluster
    first = _submit(c, tmp_path, "first", "--gpus", "3", "-c", "16")
    cuda, _, held, _ = _seen(tmp_path, "first")
    assert cuda == "0,1,2" and held == SOCKET0
    _kill9(c.pid("agent"))
    assert "agent started" in c.corral("up", "--node", "node1").stdout
    second = _submit(c, tmp_path, "second", "--gpus", "2", "-c", "2")
    cuda, _, cpus, _ = _seen(tmp_path, "second")
    assert cuda == "3,4" and cpus <= SOCKET8  # socket 0's GPUs and CPUs are still held
    assert c.show(first)["state"] == "RUNNING"
    _release(c, tmp_path, ("first", first), ("second", second))
