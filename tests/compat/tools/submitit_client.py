"""Run by tests/compat/test_submitit.py with the drop-in commands on PATH: exercises
submitit's Slurm executor on corral and prints what happened as one JSON line."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import submitit


def task_id(x: int) -> tuple[int, str, str]:
    env = submitit.JobEnvironment()
    return x * x, os.environ.get("SLURM_ARRAY_TASK_ID", ""), str(env.job_id)


def boom() -> None:
    raise ValueError("boom from the job")


class Resumable(submitit.helpers.Checkpointable):
    """Sleeps past its warning signal on the first run; the requeued run returns."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, x: int) -> tuple[int, int]:
        self.runs += 1
        if self.runs == 1:
            time.sleep(300)
        return x, self.runs


T0 = time.monotonic()


def step(what: str) -> None:
    """Progress on stderr: the test shows it if the client does not finish."""
    print(f"[{time.monotonic() - T0:6.1f} s] {what}", file=sys.stderr, flush=True)


def main() -> None:
    out: dict[str, Any] = {}
    ex = submitit.AutoExecutor(folder="submitit-logs/%j")
    out["cluster"] = ex.cluster
    ex.update_parameters(timeout_min=5, cpus_per_task=1)
    single = ex.submit(pow, 2, 10)
    array = ex.map_array(task_id, [1, 2, 3])
    failing = ex.submit(boom)
    sleeper = ex.submit(time.sleep, 300)
    ckpt_ex = submitit.AutoExecutor(folder="submitit-logs/%j")
    # a 1 minute limit with USR2 50 s before it: the signal comes ~10 s after start
    ckpt_ex.update_parameters(timeout_min=1, slurm_signal_delay_s=50)
    ckpt = ckpt_ex.submit(Resumable(), 7)
    ckpt_array = ckpt_ex.map_array(Resumable(), [1, 2])  # requeues `scontrol requeue A_i`

    step("submitted: waiting for the single job")
    out["single"] = single.result()
    step("the array")
    out["array"] = [list(j.result()) for j in array]
    out["array_job_ids"] = [j.job_id for j in array]
    step("the failing job")
    try:
        failing.result()
        out["failing"] = "no error"
    except submitit.core.utils.FailedJobError as e:
        out["failing"] = str(e)
    # submitit raises as soon as the job has written its result, which it does before
    # its process exits: the state is read once the job has ended (as on Slurm, where
    # it may still be RUNNING or COMPLETING at that moment)
    deadline = time.monotonic() + 30
    while True:
        state = failing.get_info(mode="force").get("State", "")
        if state not in ("RUNNING", "COMPLETING", "PENDING") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    out["failing_state"] = state
    step("cancelling the sleeper")
    deadline = time.monotonic() + 30
    while sleeper.get_info(mode="force").get("State") != "RUNNING":
        assert time.monotonic() < deadline, "sleeper never ran"
        time.sleep(0.5)
    sleeper.cancel(check=True)
    deadline = time.monotonic() + 30
    while not sleeper.get_info(mode="force").get("State", "").startswith("CANCELLED"):
        assert time.monotonic() < deadline, sleeper.get_info(mode="force")
        time.sleep(0.5)
    out["cancelled_state"] = sleeper.get_info(mode="force").get("State")
    step(f"the checkpointable job {ckpt.job_id}")
    out["checkpoint"] = list(ckpt.result())
    out["checkpoint_log"] = ckpt.stdout() or ""
    step(f"the checkpointable array {[j.job_id for j in ckpt_array]}")
    out["checkpoint_array"] = [list(j.result()) for j in ckpt_array]
    step("done")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
