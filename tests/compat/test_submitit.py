"""submitit's Slurm executor on corral (skipped when submitit is not installed).

The client runs in its own process (tests/compat/tools/submitit_client.py) with the
drop-in commands on PATH, as a user's would; it submits everything at once so that
the jobs run side by side, and reports what it saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import Compat

pytest.importorskip("submitit", reason="submitit is not installed (pip install submitit)")

CLIENT = Path(__file__).parent / "tools" / "submitit_client.py"
ROOT = str(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="module")
def seen(compat: Compat) -> dict[str, Any]:
    env = dict(compat.env, PYTHONPATH=os.pathsep.join([ROOT, *(p for p in sys.path if p)]))
    try:
        p = subprocess.run([sys.executable, str(CLIENT)], env=env, cwd=compat.work,
                           capture_output=True, text=True, timeout=150)
    except subprocess.TimeoutExpired as e:  # say where it stood, and what corral saw
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        queue = compat.run("squeue", "-t", "all", "-o", "%i %T %r %M", rc=None).stdout
        pytest.fail(f"the submitit client did not finish in 150 s\n{err[-3000:]}\n"
                    f"squeue -t all:\n{queue}")
    assert p.returncode == 0, p.stderr[-4000:]
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    out["queue_after"] = compat.out("squeue", "-h", "-o", "%i %T")
    return out


def test_autoexecutor_detects_slurm(seen: dict[str, Any]) -> None:
    assert seen["cluster"] == "slurm"


def test_single_job_returns_its_result(seen: dict[str, Any]) -> None:
    assert seen["single"] == 1024


def test_map_array_each_task_sees_its_own_index(seen: dict[str, Any]) -> None:
    assert seen["array"] == [[1, "0", seen["array_job_ids"][0]],
                             [4, "1", seen["array_job_ids"][1]],
                             [9, "2", seen["array_job_ids"][2]]]
    base = seen["array_job_ids"][0].split("_")[0]
    assert seen["array_job_ids"] == [f"{base}_{i}" for i in range(3)]


def test_raising_function_is_a_failed_job(seen: dict[str, Any]) -> None:
    assert "ValueError: boom from the job" in seen["failing"]
    assert seen["failing_state"] == "FAILED"


def test_cancelled_job_reads_cancelled(seen: dict[str, Any]) -> None:
    assert seen["cancelled_state"].startswith("CANCELLED")


def test_checkpointable_job_is_signalled_requeues_itself_and_finishes(
        seen: dict[str, Any]) -> None:
    # USR2 reached the task (not the batch shell), `scontrol requeue` put the job back,
    # and the second run resumed from the checkpoint (runs == 2).
    assert seen["checkpoint"] == [7, 2]
    log = seen["checkpoint_log"]
    assert "Caught signal SIGUSR2" in log
    assert "Requeued job" in log
    assert "Job completed successfully" in log
    assert seen["checkpoint_array"] == [[1, 2], [2, 2]]  # array tasks requeue as A_i


def test_nothing_left_in_the_queue(seen: dict[str, Any]) -> None:
    assert seen["queue_after"].strip() == ""
