"""The drop-in commands read job ids with corral's one strict parser: an array
task is `A_I` or `A_[I-J]`, and `A_1_1` is no id at all (never task 11)."""

from __future__ import annotations

from corral.model.arrays import task_job_id
from tests.compat.conftest import Compat


def test_array_task_ids_in_the_dropin_commands(compat: Compat) -> None:
    arr = int(compat.out("sbatch", "--parsable", "-H", "-a", "0-12", "--wrap", "true"))
    try:
        out = compat.out("squeue", "-h", "-r", "-o", "%i", "-j", f"{arr}_[1-2],{arr}_11")
        assert out.split() == [f"{arr}_1", f"{arr}_2", f"{arr}_11"]
        p = compat.run("squeue", "-h", "-o", "%i", "-j", f"{arr}_1_1", rc=1)
        assert p.stdout == "" and f"Invalid job id: {arr}_1_1" in p.stderr
        compat.run("scontrol", "release", f"{arr}_[3-4]")
        for task in (3, 4):
            assert compat.cluster.wait(task_job_id(arr, 13, task))["state"] == "COMPLETED"
        out = compat.out("sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", f"{arr}_[3-4]")
        assert out.split() == [f"{arr}_3|COMPLETED", f"{arr}_4|COMPLETED"]
        p = compat.run("scontrol", "show", "job", f"{arr}_x", rc=1)
        assert "Invalid job id" in p.stderr
        for bad in ("\u00b2", f"{arr}_1_1", f"+{arr}"):  # whole-array and per-task paths
            p = compat.run("scontrol", "hold", bad, rc=1)
            assert f"Invalid job id specified for job {bad}" in p.stderr
        p = compat.run("scontrol", "update", f"JobId={arr}", "Nice=1_0", rc=1)
        assert p.stderr.strip() == "Invalid Nice value: 1_0"
        p = compat.run("qdel", f"{arr}_1_1", rc=1)
        assert "is not a job id" in p.stderr
        assert compat.cluster.show(task_job_id(arr, 13, 11))["state"] == "HELD"
    finally:
        compat.run("scancel", str(arr), rc=None)
