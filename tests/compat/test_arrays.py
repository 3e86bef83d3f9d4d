"""The drop-in commands on a big array: one squeue line for its pending rest, -r lists
every task, and scontrol hold/release/update and scancel of the array's id are one
request each."""

from __future__ import annotations

import os
import time

from corral.model.arrays import task_job_id
from tests.compat.conftest import Compat


def test_drop_in_commands_on_a_5000_task_array(compat: Compat) -> None:
    arr = int(compat.out("sbatch", "--parsable", "--array=0-4999%2", "-o", "/dev/null",
                         "--wrap", "sleep 60"))
    for task in (0, 1):
        compat.cluster.wait_state(task_job_id(arr, 5000, task), {"RUNNING"})
    lines = compat.out("squeue", "-h", "-j", str(arr), "-o", "%i %t").splitlines()
    assert lines == [f"{arr}_0 R", f"{arr}_1 R", f"{arr}_[2-4999%2] PD"], lines
    rows = compat.out("squeue", "-h", "-r", "-j", str(arr), "-o", "%i %K").splitlines()
    assert len(rows) == 5000 and rows[2] == f"{arr}_2 2" and rows[-1] == f"{arr}_4999 4999"
    assert compat.out("squeue", "-h", "-j", f"{arr}_4321", "-o", "%i %t") == f"{arr}_4321 PD\n"
    t0 = time.perf_counter()
    compat.run("scontrol", "hold", str(arr))
    compat.run("scontrol", "update", f"JobId={arr}", "TimeLimit=5:00")
    assert compat.out("squeue", "-h", "-j", str(arr), "-t", "PD", "-o", "%i %r %l") == (
        f"{arr}_[2-4999%2] JobHeldUser 5:00\n")
    compat.run("scontrol", "release", str(arr))
    compat.run("scancel", str(arr))
    assert time.perf_counter() - t0 < 20  # four commands, not 5,000 requests each
    for task in (0, 1, 2, 4999):
        assert compat.cluster.wait(task_job_id(arr, 5000, task))["state"] == "CANCELLED"
    # the rest is gone; the tasks that ran stay listed by id for a while, as Slurm's
    assert compat.out("squeue", "-h", "-j", str(arr), "-o", "%i %t") == (
        f"{arr}_0 CA\n{arr}_1 CA\n")
    # sacct: the tasks that ran, and the cancelled rest as one line (no task records)
    out = compat.out("sacct", "-j", str(arr), "-X", "-n", "-P", "-o", "JobID,State")
    by = f"CANCELLED by {os.getuid()}"
    assert out.splitlines() == [f"{arr}_0|{by}", f"{arr}_1|{by}", f"{arr}_[2-4999%2]|{by}"]
    # scancel by name: the rest of another array is cancelled whole, in one request
    other = int(compat.out("sbatch", "--parsable", "--array=0-2999", "--hold", "-J",
                           "bulk", "-o", "/dev/null", "--wrap", "true"))
    t0 = time.perf_counter()
    compat.run("scancel", "--me", "-n", "bulk")
    assert time.perf_counter() - t0 < 10
    assert compat.cluster.wait(other + 2999)["state"] == "CANCELLED"
