"""Job steps through srun and salloc, against a real corral: labels, stdin to task 0,
signals that reach the steps and spare the batch script, step records."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from corral.model.errors import Conflict
from tests.compat.conftest import Compat
from tests.e2e.cluster import FINAL


def _wait(compat: Compat, job_id: int, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    with compat.cluster.client() as c:
        while True:
            job = c.wait(job_id, timeout_s=5)
            if job["state"] in FINAL or time.monotonic() > deadline:
                return job


def _batch(compat: Compat, script: str, output: str) -> tuple[dict[str, Any], str]:
    """Submit a script, wait for its end: the job and its output file (`%j` filled)."""
    job_id = int(compat.out("sbatch", "--parsable", input=script))
    job = _wait(compat, job_id)
    return job, (compat.work / output.replace("%j", str(job_id))).read_text()


def _step_events(compat: Compat, job_id: int) -> list[dict[str, Any]]:
    with compat.cluster.client() as c:
        return [e["data"] for e in c.events(job_id) if e["kind"] == "step"]


def test_srun_labels_each_task_and_feeds_stdin_to_task_0(compat: Compat) -> None:
    p = compat.run("srun", "-n", "3", "-l", "sh", "-c",
                   'read line || line=none; echo "$SLURM_PROCID/$SLURM_NTASKS:$line"',
                   input="hello\n")
    lines = sorted(p.stdout.splitlines())
    assert lines == ["0: 0/3:hello", "1: 1/3:none", "2: 2/3:none"], p.stdout


def test_srun_in_a_batch_job_streams_into_the_job_output(compat: Compat) -> None:
    script = ("#!/bin/sh\n#SBATCH -n 2 -o steps-%j.out\n"
              "srun -l sh -c 'echo task $SLURM_PROCID step $SLURM_STEP_ID'\n"
              "srun -n 1 sh -c 'exit 3'\necho batch-rc=$?\n")
    job, text = _batch(compat, script, "steps-%j.out")
    job_id = int(job["id"])
    assert job["state"] == "COMPLETED", job
    assert sorted(text.splitlines()[:2]) == ["0: task 0 step 0", "1: task 1 step 0"], text
    assert "task 0: Exited with exit code 3" in text and "batch-rc=3" in text, text
    events = _step_events(compat, job_id)
    ends = [(e["step_id"], e["state"], e["exit_code"]) for e in events if e["action"] == "end"]
    assert ends == [(0, "COMPLETED", 0), (1, "FAILED", 3)], events
    # more tasks than the job has CPUs: refused with the limit named
    script = "#!/bin/sh\nsrun -n 3 true\necho rc=$?\n"
    job_id = int(compat.out("sbatch", "--parsable", "-o", "over-%j.out", input=script))
    _wait(compat, job_id)
    text = (compat.work / f"over-{job_id}.out").read_text()
    assert "ntasks: 3 tasks x 1 CPUs on 1 node(s) needs 3 CPUs" in text, text
    assert "rc=1" in text and "Traceback" not in text


def test_scancel_signal_reaches_the_steps_not_the_batch_script(compat: Compat) -> None:
    script = ("#!/bin/bash\n#SBATCH -o sig-%j.out\n"
              "srun bash -c 'trap \"echo step-got-usr1; exit 0\" USR1; "
              "echo ready; sleep 30 & wait'\n"
              "echo batch-still-here\n")
    job_id = int(compat.out("sbatch", "--parsable", input=script))
    out = compat.work / f"sig-{job_id}.out"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "ready" not in (out.read_text() if out.exists()
                                                          else ""):
        time.sleep(0.1)
    compat.run("scancel", "--signal=USR1", str(job_id))
    job = _wait(compat, job_id)
    text = out.read_text()
    assert job["state"] == "COMPLETED", (job, text)
    assert "step-got-usr1" in text and "batch-still-here" in text, text


def test_warning_signal_without_b_goes_to_the_steps(compat: Compat) -> None:
    script = ("#!/bin/bash\n#SBATCH -o warn-%j.out -t 0:10 --signal=USR2@8\n"
              "srun bash -c 'trap \"echo step-warned; exit 0\" USR2; sleep 20 & wait'\n"
              "echo batch-after-step\n")
    job, text = _batch(compat, script, "warn-%j.out")
    assert job["state"] == "COMPLETED", (job, text)
    assert "step-warned" in text and "batch-after-step" in text, text


def test_scancel_of_one_step_leaves_the_job_running(compat: Compat) -> None:
    script = ("#!/bin/sh\n#SBATCH -o one-%j.out\nsrun sleep 30\necho step-rc=$?\n")
    job_id = int(compat.out("sbatch", "--parsable", input=script))
    deadline = time.monotonic() + 30
    with compat.cluster.client() as c:
        while time.monotonic() < deadline and not c.steps(job_id):
            time.sleep(0.1)
    compat.run("scancel", f"{job_id}.0")
    job = _wait(compat, job_id)
    text = (compat.work / f"one-{job_id}.out").read_text()
    assert job["state"] == "COMPLETED", (job, text)
    assert "step-rc=137" in text, text


def test_salloc_runs_a_command_in_the_allocation_and_gives_it_back(compat: Compat) -> None:
    p = compat.run("salloc", "-n", "2", "-J", "inter", "sh", "-c",
                   "srun -l sh -c 'echo in $SLURM_JOB_ID'; echo shell $SLURM_JOB_ID $SLURM_NNODES")
    job_id = int(p.stdout.strip().splitlines()[-1].split()[1])
    assert f"salloc: Granted job allocation {job_id}" in p.stderr
    assert f"salloc: Relinquishing job allocation {job_id}" in p.stderr
    assert sorted(p.stdout.splitlines())[:2] == [f"0: in {job_id}", f"1: in {job_id}"]
    assert p.stdout.strip().splitlines()[-1] == f"shell {job_id} 1"
    job = _wait(compat, job_id)
    assert (job["state"], job["exit_code"], job["name"]) == ("COMPLETED", 0, "inter")
    p = compat.run("salloc", "sh", "-c", "exit 3", rc=3)
    job_id = int(p.stderr.split("Granted job allocation ")[1].split()[0])
    assert _wait(compat, job_id)["state"] == "FAILED"
    squeue = compat.out("squeue", "-h", "-j", str(job_id), "-t", "all", "-o", "%T %i")
    assert squeue.split() == ["FAILED", str(job_id)]


def test_a_batch_job_cannot_be_ended_as_an_allocation(compat: Compat) -> None:
    job_id = int(compat.out("sbatch", "--parsable", "--wrap", "sleep 5"))
    p = compat.cluster.corral("show", str(job_id), "--json")
    assert json.loads(p.stdout)["id"] == job_id
    with compat.cluster.client() as c:
        with pytest.raises(Conflict, match="only allocations are ended by their client"):
            c.end(job_id)
        c.cancel(job_id)


def test_squeue_s_and_sacct_show_the_steps(compat: Compat) -> None:
    script = ("#!/bin/sh\n#SBATCH -n 2 -o list-%j.out\nsrun -n 1 -J quick true\n"
              "srun -n 2 -J slow sleep 3\n")
    job_id = int(compat.out("sbatch", "--parsable", input=script))
    deadline = time.monotonic() + 30
    rows: list[str] = []
    while time.monotonic() < deadline and not rows:
        rows = [r for r in compat.out("squeue", "-s", "-h").splitlines()
                if r.split()[0] == f"{job_id}.1"]
        time.sleep(0.1)
    assert rows and rows[0].split()[1] == "slow" and rows[0].split()[-1] == "node1", rows
    assert _wait(compat, job_id)["state"] == "COMPLETED"
    out = compat.out("sacct", "-j", str(job_id), "-P", "-n", "-o", "JobID,JobName,State,ExitCode")
    assert out.splitlines() == [
        f"{job_id}|sbatch|COMPLETED|0:0", f"{job_id}.batch|batch|COMPLETED|0:0",
        f"{job_id}.0|quick|COMPLETED|0:0", f"{job_id}.1|slow|COMPLETED|0:0"], out


def test_sprio_shows_the_factors_of_pending_jobs(compat: Compat) -> None:
    hold = int(compat.out("sbatch", "--parsable", "-H", "--wrap", "true"))
    try:
        deadline = time.monotonic() + 10
        out = ""
        while time.monotonic() < deadline:
            out = compat.out("sprio", "-j", str(hold))
            if len(out.splitlines()) == 2:
                break
            time.sleep(0.2)
        header, row = out.splitlines()
        assert header.split() == ["JOBID", "PARTITION", "PRIORITY", "SITE", "AGE",
                                  "FAIRSHARE", "JOBSIZE", "PARTITION", "QOS"]
        cells = row.split()
        assert cells[0] == str(hold) and cells[1] == "main"
        assert int(cells[2]) == sum(int(x) for x in cells[3:]), row
        weights = compat.out("sprio", "-w", "-h").split()
        assert weights[0] == "Weights" and "1000" in weights  # the age weight
        p = compat.run("sprio", "-j", "999999", rc=1)
        assert "Unable to find jobs" in p.stderr
    finally:
        compat.run("scancel", str(hold))


def test_scontrol_show_config_names_min_job_age(compat: Compat) -> None:
    text = compat.out("scontrol", "show", "config")
    assert "MinJobAge               = 300 sec" in text, text


def test_sstat_shows_what_a_running_job_uses(compat: Compat) -> None:
    job_id = int(compat.out("sbatch", "--parsable", "--wrap",
                            "python3 -c 'x = bytearray(120*1024*1024); import time; "
                            "t = time.time()\nwhile time.time() - t < 30: pass'"))
    try:
        deadline = time.monotonic() + 30
        rss_kib, cpu = 0, "00:00:00"
        # AveCPU counts whole seconds: on a loaded machine the job may take a while
        # to be given its first second of CPU after its memory is already counted
        while time.monotonic() < deadline and (rss_kib < 100 * 1024 or cpu == "00:00:00"):
            time.sleep(0.5)
            out = compat.out("sstat", "-j", str(job_id), "-P", "-n", "-o",
                             "JobID,MaxRSS,AveCPU,MinCPUNode")
            if out.strip():
                jid, rss, cpu, node = out.strip().split("|")
                assert (jid, node) == (f"{job_id}.batch", "node1")
                rss_kib = int(rss.rstrip("K"))
        assert rss_kib >= 100 * 1024, out
        assert cpu != "00:00:00", out
        header = compat.out("sstat", "-j", str(job_id), "-o", "JobID,MaxRSS").splitlines()
        assert header[0].split() == ["JobID", "MaxRSS"] and set(header[1]) <= {"-", " "}
    finally:
        compat.run("scancel", str(job_id))
    compat.cluster.wait(job_id)
    p = compat.run("sstat", "-j", str(job_id), rc=1)
    assert "already completing or completed" in p.stderr


def test_step_and_allocation_errors_are_one_line(compat: Compat) -> None:
    cases = [
        (("srun", "-n", "abc", "true"), 1, "srun: error: Invalid --ntasks specification: abc"),
        (("srun", "--input=bad", "true"), 1,
         "srun: error: Invalid --input specification: bad (corral takes all, none or a "
         "task number)"),
        (("srun", "-p", "nope", "true"), 1,
         "srun: error: partition: no partition named 'nope' (have: main)"),
        (("srun", "--jobid", "999999", "true"), 1,
         "srun: error: job 999999: no such job in the queue"),
        (("salloc", "-t", "bogus", "true"), 1,
         "salloc: error: time: 'bogus' is not a duration (use minutes, MM:SS, HH:MM:SS or "
         "D-HH:MM:SS)"),
        (("sstat",), 1, "sstat: error: You did not give me any jobs to look for"),
        (("sstat", "-o", "Bogus", "-j", "1"), 1, 'sstat: error: Invalid field requested: "Bogus"'),
        (("sprio", "-o", "%Z"), 1, "sprio: error: Invalid job format specification: Z"),
        (("scancel", "1.x"), 1, "scancel: error: Invalid job id 1.x"),
    ]
    jobs_before = compat.out("squeue", "-h", "-t", "all", "-o", "%i %T")
    for args, rc, line in cases:
        p = compat.run(*args, rc=rc)
        assert p.stderr.strip() == line, (args, p.stderr)
    # refused before anything was allocated: no job left behind
    assert compat.out("squeue", "-h", "-t", "all", "-o", "%i %T") == jobs_before
    p = compat.run("srun", "no-such-command-xyz", rc=127)
    assert "no-such-command-xyz: not found" in p.stderr
    assert "task 0: Exited with exit code 127" in p.stderr


def test_srun_multi_prog_runs_each_task_its_own_program(compat: Compat) -> None:
    (compat.work / "mpmd.conf").write_text(
        "# rank  program\n0  echo leader %t\n1-2  sh -c 'echo worker %t/%o on $SLURMD_NODENAME'\n"
        "*  echo rest %t\n")
    p = compat.run("srun", "-n", "4", "-l", "--multi-prog", "mpmd.conf")
    assert sorted(p.stdout.splitlines()) == ["0: leader 0", "1: worker 1/0 on node1",
                                             "2: worker 2/1 on node1", "3: rest 3"], p.stdout
    (compat.work / "short.conf").write_text("0-1 true\n")
    p = compat.run("srun", "-n", "3", "--multi-prog", "short.conf", rc=1)
    assert p.stderr.strip() == "srun: error: short.conf: no program for task 2 of the 3"
    p = compat.run("srun", "-n", "1", "--multi-prog", "missing.conf", rc=1)
    assert p.stderr.strip() == ("srun: error: --multi-prog: cannot read missing.conf: "
                                "No such file or directory")
    assert "RUNNING" not in compat.out("squeue", "-h", "-t", "all", "-o", "%T")
