"""Slurm front ends against a real corral: output formats and error behaviour."""

from __future__ import annotations

import re
import time

import pytest

from tests.compat.conftest import Compat

SCRIPT = """#!/bin/bash
#SBATCH --job-name=golden
#SBATCH -o %x-%j.log   # a trailing comment
#SBATCH -c 2 --time=10
echo "id=$SLURM_JOB_ID name=$SLURM_JOB_NAME ntasks=$SLURM_NTASKS cpt=$SLURM_CPUS_PER_TASK"
"""


def _submit(c: Compat, *args: str, script: str | None = None) -> int:
    out = c.out("sbatch", "--parsable", *args, input=script)
    assert re.fullmatch(r"\d+\n", out), out
    return int(out)


def _wait(c: Compat, job_id: int) -> dict:
    return c.cluster.wait(job_id, timeout_s=30)


def test_sbatch_script_directives_and_output(compat: Compat) -> None:
    (compat.work / "job.sh").write_text(SCRIPT)
    out = compat.out("sbatch", "job.sh")
    m = re.fullmatch(r"Submitted batch job (\d+)\n", out)
    assert m, out
    job_id = int(m.group(1))
    job = _wait(compat, job_id)
    assert job["state"] == "COMPLETED"
    assert job["name"] == "golden" and job["cpus"] == 2 and job["time_limit_s"] == 600
    log = (compat.work / f"golden-{job_id}.log").read_text()
    assert f"id={job_id} name=golden" in log and "cpt=2" in log


def test_sbatch_options_like_slurm(compat: Compat) -> None:
    # unique prefixes, --opt value, attached short values, ntasks * cpus-per-task
    job_id = _submit(compat, "--job-n", "abbr", "-n2", "--cpus-per-task=2", "--mem-per-cpu",
                     "100", "-t", "1:00", "-H", "--wrap", "true")
    job = compat.cluster.show(job_id)
    assert job["name"] == "abbr" and job["cpus_per_node"] == 4
    assert job["mem_mb_per_node"] == 400 and job["time_limit_s"] == 60
    assert job["state"] == "HELD"
    compat.run("scancel", str(job_id))


def test_sbatch_errors(compat: Compat) -> None:
    p = compat.run("sbatch", "--bogus", "--wrap", "true", rc=1)
    assert p.stderr.startswith("sbatch: error: unrecognized option '--bogus'\n")
    p = compat.run("sbatch", "--wrap", rc=1)
    assert "sbatch: error: option '--wrap' requires an argument" in p.stderr
    p = compat.run("sbatch", "-p", "nosuch", "--wrap", "true", rc=1)
    assert p.stderr.startswith("sbatch: error: Batch job submission failed: ")
    p = compat.run("sbatch", input="echo no shebang\n", rc=1)
    assert "This does not look like a batch script" in p.stderr
    p = compat.run("sbatch", "missing.sh", rc=1)
    assert p.stderr == "sbatch: error: Unable to open file missing.sh\n"
    p = compat.run("sbatch", "--wrap", "true", "extra", rc=1)
    assert "Script arguments not permitted with --wrap option" in p.stderr


def test_sbatch_harmless_option_warns(compat: Compat) -> None:
    p = compat.run("sbatch", "--mail-type=END", "--qos", "normal", "--wrap", "true")
    assert "sbatch: warning: --mail-type is ignored by corral" in p.stderr
    assert p.stdout.startswith("Submitted batch job ")


def test_sbatch_wait_exit_code(compat: Compat) -> None:
    p = compat.run("sbatch", "-W", "--wrap", "exit 3", rc=3)
    assert p.stdout.startswith("Submitted batch job ")


def test_squeue_default_and_formats(compat: Compat) -> None:
    job_id = _submit(compat, "-H", "-J", "a-very-long-name", "--wrap", "true")
    lines = compat.out("squeue").splitlines()
    assert lines[0] == ("             JOBID PARTITION     NAME     USER ST       TIME  NODES "
                        "NODELIST(REASON)")
    row = next(ln for ln in lines[1:] if ln.split()[0] == str(job_id))
    assert re.fullmatch(rf" +{job_id} +main a-very-l +\S+ PD +0:00 +1 \(JobHeldUser\)", row)
    out = compat.out("squeue", "-h", "-j", str(job_id), "-o", "%i|%j|%t|%T|%r|%D|%C|%P|%l")
    assert out == f"{job_id}|a-very-long-name|PD|PENDING|JobHeldUser|1|1|main|1:00:00\n"
    out = compat.out("squeue", "--noheader", "--job", str(job_id), "-o", "%.5i %10j|")
    assert out == f"{job_id:>5} a-very-lon|\n"
    out = compat.out("squeue", "-j", str(job_id), "-O", "JobID:8,State:10,Name")
    assert out.splitlines() == ["JOBID   STATE     NAME",
                                f"{job_id:<8}PENDING   a-very-long-name"]
    assert str(job_id) in compat.out("squeue", "--me", "-h", "-t", "PD", "-o", "%i")
    assert compat.out("squeue", "-h", "-t", "R", "-j", str(job_id)) == ""
    compat.run("scancel", str(job_id))


def test_squeue_unknown_job_and_finished(compat: Compat) -> None:
    p = compat.run("squeue", "-j", "999999", rc=1)
    assert p.stderr == "slurm_load_jobs error: Invalid job id specified\n"
    job_id = _submit(compat, "--wrap", "true")
    _wait(compat, job_id)
    assert str(job_id) not in compat.out("squeue", "-h", "-o", "%i").split()
    out = compat.out("squeue", "-h", "-t", "all", "-o", "%i %t %T")
    assert f"{job_id} CD COMPLETED" in out.splitlines()
    assert compat.out("squeue", "-h", "-j", str(job_id), "-o", "%t") == "CD\n"


def test_scancel(compat: Compat) -> None:
    job_id = _submit(compat, "--wrap", "sleep 60")
    compat.cluster.wait_state(job_id, {"RUNNING"})
    p = compat.run("scancel", str(job_id))
    assert p.stdout == "" and p.stderr == ""
    assert _wait(compat, job_id)["state"] == "CANCELLED"
    p = compat.run("scancel", str(job_id))  # already finished: silent success
    assert p.stdout == "" and p.stderr == ""
    p = compat.run("scancel", "999999")  # unknown: ignored when killing, as Slurm does
    assert p.stdout == "" and p.stderr == ""
    p = compat.run("scancel", rc=1)
    assert p.stderr == "scancel: error: No job identification provided\n"


def test_sacct(compat: Compat) -> None:
    ok = _submit(compat, "-J", "okjob", "--wrap", "true")
    bad = _submit(compat, "-J", "badjob", "--wrap", "exit 3")
    _wait(compat, ok)
    _wait(compat, bad)
    out = compat.out("sacct", "-j", f"{ok},{bad}", "-X", "-P", "-o",
                     "JobID,JobName,State,ExitCode,AllocCPUS,Partition,NodeList")
    assert out.splitlines() == [
        "JobID|JobName|State|ExitCode|AllocCPUS|Partition|NodeList",
        f"{ok}|okjob|COMPLETED|0:0|1|main|node1",
        f"{bad}|badjob|FAILED|3:0|1|main|node1",
    ]
    out = compat.out("sacct", "-j", str(ok), "--parsable2", "--noheader",
                     "--format=jobid,state")
    assert out.splitlines() == [f"{ok}|COMPLETED", f"{ok}.batch|COMPLETED"]
    lines = compat.out("sacct", "-j", str(bad)).splitlines()
    assert lines[0].split() == ["JobID", "JobName", "Partition", "Account", "AllocCPUS",
                                "State", "ExitCode"]
    assert lines[1] == "------------ " + "---------- " * 5 + "-------- "
    assert lines[2].split() == [str(bad), "badjob", "main", "1", "FAILED", "3:0"]
    out = compat.out("sacct", "-n", "-X", "-p", "-o", "JobID,Elapsed,Start,End", "-j", str(ok))
    jid, elapsed, start, end, tail = out.strip().split("|")
    assert jid == str(ok) and re.fullmatch(r"\d\d:\d\d:\d\d", elapsed) and tail == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", start) and end >= start
    assert str(ok) in compat.out("sacct", "-X", "-n", "-P", "-o", "JobID", "-S", "now-1hour")
    p = compat.run("sacct", "-o", "NoSuchField", rc=1)
    assert 'Invalid field requested: "NoSuchField"' in p.stderr


def test_sinfo(compat: Compat) -> None:
    lines = compat.out("sinfo").splitlines()
    assert lines[0] == "PARTITION AVAIL  TIMELIMIT  NODES  STATE NODELIST"
    assert re.fullmatch(r"main\*\s+up 1-00:00:00\s+1\s+(idle|mix|alloc) node1", lines[1])
    assert compat.out("sinfo", "-h", "-o", "%P %D %c %R") == "main* 1 4 main\n"
    lines = compat.out("sinfo", "-N").splitlines()
    assert lines[0].split() == ["NODELIST", "NODES", "PARTITION", "STATE"]
    assert lines[1].split()[:3] == ["node1", "1", "main*"]


def test_scontrol(compat: Compat) -> None:
    job_id = _submit(compat, "-H", "-J", "ctl", "--wrap", "true")
    text = compat.out("scontrol", "show", "job", str(job_id))
    assert text.startswith(f"JobId={job_id} JobName=ctl\n   UserId=")
    for key in ("JobState=PENDING Reason=JobHeldUser", "ExitCode=0:0", "RunTime=00:00:00",
                "TimeLimit=01:00:00", "SubmitTime=", "StartTime=Unknown", "EndTime=Unknown",
                "Partition=main", "NodeList=(null)", "NumNodes=1 NumCPUs=1",
                f"WorkDir={compat.work}", f"StdOut={compat.work}/slurm-{job_id}.out",
                f"StdErr={compat.work}/slurm-{job_id}.out", "Command="):
        assert key in text, key
    one = compat.out("scontrol", "-o", "show", "job", str(job_id))
    assert one.count("\n") == 1 and "JobState=PENDING" in one
    compat.run("scontrol", "update", f"JobId={job_id}", "TimeLimit=5", "JobName=renamed")
    job = compat.cluster.show(job_id)
    assert job["time_limit_s"] == 300 and job["name"] == "renamed"
    compat.run("scontrol", "release", str(job_id))
    assert _wait(compat, job_id)["state"] == "COMPLETED"
    text = compat.out("scontrol", "show", "job", str(job_id))
    assert "JobState=COMPLETED" in text and "NodeList=node1" in text
    p = compat.run("scontrol", "show", "job", "999999", rc=1)
    assert p.stderr == "slurm_load_jobs error: Invalid job id specified\n"
    p = compat.run("scontrol", "hold", "999999", rc=1)
    assert "Invalid job id specified" in p.stderr
    assert compat.out("scontrol", "show", "hostnames", "n[1-3],gpu[08-10]").split() == [
        "n1", "n2", "n3", "gpu08", "gpu09", "gpu10"]
    assert compat.out("scontrol", "show", "node", "node1").startswith("NodeName=node1 ")
    assert "PartitionName=main\n" in compat.out("scontrol", "show", "partition")


def test_requeue(compat: Compat) -> None:
    job_id = _submit(compat, "--wrap", "sleep 60")
    compat.cluster.wait_state(job_id, {"RUNNING"})
    compat.run("scontrol", "requeue", str(job_id))
    deadline = time.monotonic() + 20
    while compat.cluster.show(job_id)["restarts"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Restarts=1" in compat.out("scontrol", "show", "job", str(job_id))
    compat.run("scancel", str(job_id))


def test_requeuehold_running(compat: Compat) -> None:
    job_id = _submit(compat, "--wrap", "sleep 60")
    compat.cluster.wait_state(job_id, {"RUNNING"})
    compat.run("scontrol", "requeuehold", str(job_id))
    job = compat.cluster.wait_state(job_id, {"HELD"}, timeout_s=10)
    compat.run("scancel", str(job_id))
    assert job["state"] == "HELD"


def test_array_and_dependency(compat: Compat) -> None:
    p = compat.run("sbatch", "--parsable", "--array=1-3", "-o", "arr-%A_%a.out", "--wrap",
                   'echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID"', rc=None)
    if p.returncode != 0:
        pytest.skip(f"the controller does not take arrays yet: {p.stderr.strip()}")
    arr = int(p.stdout)
    after = _submit(compat, f"--dependency=afterok:{arr}", "--wrap", "true")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = compat.out("sacct", "-j", str(arr), "-X", "-n", "-P", "-o", "JobID,State")
        if out.count("COMPLETED") == 3:
            break
        time.sleep(0.2)
    assert out.splitlines() == [f"{arr}_{i}|COMPLETED" for i in (1, 2, 3)]
    assert (compat.work / f"arr-{arr}_2.out").read_text() == f"task 2 of {arr}\n"
    assert _wait(compat, after)["state"] == "COMPLETED"


def test_srun_streams_output_and_exit_code(compat: Compat) -> None:
    p = compat.run("srun", "-J", "step", "sh", "-c", "echo hi $SLURM_JOB_NAME; exit 4", rc=4)
    assert p.stdout == "hi step\n"
    assert "Exited with exit code 4" in p.stderr


def test_srun_inside_a_job_runs_its_tasks_as_a_step(compat: Compat) -> None:
    script = ("#!/bin/sh\n#SBATCH -n 2\nsrun --unbuffered -n 2 --output=step-%j-%t.out "
              "sh -c 'echo rank=$SLURM_PROCID of $SLURM_NTASKS'\n")
    job_id = int(compat.out("sbatch", "--parsable", input=script))
    assert _wait(compat, job_id)["state"] == "COMPLETED"
    for rank in (0, 1):
        text = (compat.work / f"step-{job_id}-{rank}.out").read_text()
        assert text == f"rank={rank} of 2\n"


@pytest.mark.parametrize(("options", "brief"), [
    ({}, True), ({"long": None}, True), ({"format": "%i %j %T %M %l %D %R %Q %a %q"}, True),
    ({"Format": "JobID,Name,State,ReasonList,NumCPUs,ExitCode"}, True),
    ({"format": "%i %o"}, False), ({"format": "%i %Z"}, False),
    ({"Format": "JobID,StdOut"}, False), ({"Format": "JobID,Command"}, False),
    ({"format": "%i %!"}, True)])
def test_squeue_lists_from_the_brief_view_only_for_brief_fields(
        options: dict[str, str | None], brief: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """squeue asks for the brief view (GET /v1/jobs?view=brief) when its layout shows
    only fields the brief view has, and for full jobs otherwise."""
    from corral.compat.slurm.squeue import _brief_layout
    monkeypatch.delenv("SQUEUE_FORMAT", raising=False)
    monkeypatch.delenv("SQUEUE_FORMAT2", raising=False)
    assert _brief_layout(options) is brief
