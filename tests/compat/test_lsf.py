"""LSF front ends (bsub, bjobs, bkill, bqueues, bhosts) against a real corral."""

from __future__ import annotations

import json
import re
import time

from tests.compat.conftest import Compat

SCRIPT = """#!/bin/bash
#BSUB -J lsfjob
#BSUB -n 2
#BSUB -R "span[hosts=1] rusage[mem=100]"
#BSUB -W 10
#BSUB -o lsf.%J.out
#BSUB -e lsf.%J.err
echo "id=$LSB_JOBID index=$LSB_JOBINDEX name=$LSB_JOBNAME np=$LSB_DJOB_NUMPROC"
echo "hosts=$LSB_HOSTS mcpu=$LSB_MCPU_HOSTS queue=$LSB_QUEUE"
"""
SUBMITTED = re.compile(r"Job <(\d+)> is submitted to (default )?queue <(\w+)>\.\n")


def _submitted(out: str) -> int:
    m = SUBMITTED.fullmatch(out)
    assert m, out
    return int(m.group(1))


def test_bsub_from_stdin_with_bsub_lines(compat: Compat) -> None:
    out = compat.out("bsub", input=SCRIPT)
    assert "default queue <main>" in out
    job_id = _submitted(out)
    job = compat.cluster.wait(job_id)
    assert job["state"] == "COMPLETED", job
    assert job["name"] == "lsfjob" and job["cpus"] == 2 and job["nodes"] == 1
    assert job["time_limit_s"] == 600 and job["mem_mb_per_node"] == 100
    host = job["node_list"][0]
    assert (compat.work / f"lsf.{job_id}.out").read_text() == (
        f"id={job_id} index=0 name=lsfjob np=2\n"
        f"hosts={host} {host} mcpu={host} 2 queue=main\n")
    assert (compat.work / f"lsf.{job_id}.err").exists()


def test_bsub_command_exit_code_and_bjobs_formats(compat: Compat) -> None:
    job_id = _submitted(compat.out("bsub", "-q", "main", "-o", "cmd.%J",
                                   "echo hi; exit 3"))
    job = compat.cluster.wait(job_id)
    assert job["exit_code"] == 3 and job["name"] == "echo hi; exit 3"
    assert (compat.work / f"cmd.{job_id}").read_text() == "hi\n"
    assert compat.out("bjobs", "-o", "jobid stat exit_code", "-noheader",
                      str(job_id)) == f"{job_id} EXIT 3\n"
    text = compat.out("bjobs", "-a", "-o", "jobid:8 stat:6 delimiter=','")
    assert text.splitlines()[0] == "JOBID,STAT" and f"{job_id},EXIT" in text.splitlines()
    data = json.loads(compat.out("bjobs", "-json", "-o", "jobid stat queue", str(job_id)))
    assert data == {"COMMAND": "bjobs", "JOBS": 1,
                    "RECORDS": [{"JOBID": str(job_id), "STAT": "EXIT", "QUEUE": "main"}]}
    # finished jobs leave the default listing
    p = compat.run("bjobs")
    assert str(job_id) not in p.stdout


def test_memory_units_follow_lsf_conf(compat: Compat) -> None:
    # LSF's default unit for -M is KB
    job_id = _submitted(compat.out("bsub", "-H", "-M", "1048576", "true"))
    with compat.cluster.client() as c:
        assert c.job(job_id)["mem_mb_per_node"] == 1024
        conf = compat.work / "lsfconf"
        conf.mkdir(exist_ok=True)
        (conf / "lsf.conf").write_text("LSF_UNIT_FOR_LIMITS=MB\n")
        out = compat.run("bsub", "-H", "-M", "500", "true", env={"LSF_ENVDIR": str(conf)})
        second = _submitted(out.stdout)
        assert c.job(second)["mem_mb_per_node"] == 500
        third = _submitted(compat.out("bsub", "-H", "-M", "2GB", "true"))
        assert c.job(third)["mem_mb_per_node"] == 2048
        for j in (job_id, second, third):
            c.cancel(j)


def test_arrays_and_dependencies(compat: Compat) -> None:
    (compat.work / "arr.sh").write_text(
        "#!/bin/sh\n#BSUB -J arr[1-4]%2\n#BSUB -o arr.%J.%I\n"
        'echo "$LSB_JOBID $LSB_JOBINDEX of $LSB_JOBINDEX_END"\n')
    arr = _submitted(compat.out("bsub", "arr.sh"))
    after = _submitted(compat.out("bsub", "-w", f"done({arr})", "-o", "after.%J",
                                  "echo after"))
    with compat.cluster.client() as c:
        assert c.job(after)["dependency"] == f"afterok:{arr}"
    job = compat.cluster.wait(after, timeout_s=60)
    assert job["state"] == "COMPLETED"
    with compat.cluster.client() as c:
        tasks = [j for j in c.jobs(history=True, array=[str(arr)])
                 if j.get("array_job_id") == arr]
    assert sorted(t["array_task_id"] for t in tasks) == [1, 2, 3, 4]
    assert max(t["t_end"] for t in tasks) <= job["t_start"]
    for i in range(1, 5):
        assert (compat.work / f"arr.{arr}.{i}").read_text() == f"{arr} {i} of 4\n"
    rows = compat.out("bjobs", "-a", "-w", "-J", "arr").splitlines()
    assert rows[0].split() == ["JOBID", "USER", "STAT", "QUEUE", "FROM_HOST", "EXEC_HOST",
                               "JOB_NAME", "SUBMIT_TIME"]
    names = sorted(r.split()[6] for r in rows[1:] if r.split()[0] == str(arr))
    assert names == [f"arr[{i}]" for i in range(1, 5)]


def test_bjobs_and_bkill_of_a_held_job(compat: Compat) -> None:
    job_id = _submitted(compat.out("bsub", "-H", "-J", "held", "sleep 100"))
    row = next(r for r in compat.out("bjobs").splitlines()[1:] if r.split()[0] == str(job_id))
    assert row.split()[2] == "PSUSP" and row.split()[4] == "-"
    long_text = compat.out("bjobs", "-l", str(job_id))
    assert long_text.startswith(f"Job <{job_id}>, Job Name <held>, User <")
    assert "Status <PSUSP>, Queue <main>, Command <sleep 100>" in long_text
    assert compat.out("bkill", str(job_id)) == f"Job <{job_id}> is being terminated\n"
    compat.cluster.wait_state(job_id, {"CANCELLED"})
    p = compat.run("bkill", str(job_id), rc=255)
    assert p.stderr == f"Job <{job_id}>: Job has already finished\n"
    p = compat.run("bkill", "999999", rc=255)
    assert p.stderr == "Job <999999>: No matching job found\n"
    p = compat.run("bjobs", "999999", rc=255)
    assert p.stderr == "Job <999999> is not found\n"


def test_bkill_sends_a_signal(compat: Compat) -> None:
    script = ("#!/bin/bash\ntrap 'echo got USR1; exit 0' USR1\necho ready\n"
              "for i in $(seq 300); do sleep 0.1; done\n")
    job_id = _submitted(compat.out("bsub", "-o", "sig.%J", input=script))
    out = compat.work / f"sig.{job_id}"
    deadline = time.monotonic() + 30
    while not (out.exists() and "ready" in out.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert compat.out("bkill", "-s", "USR1", str(job_id)) == f"Job <{job_id}> is being signaled\n"
    assert compat.cluster.wait(job_id)["state"] == "COMPLETED"
    # the signal reaches every process of the job (its sleep too), as LSF's does
    assert out.read_text().startswith("ready\n") and out.read_text().endswith("got USR1\n")


def test_errors_are_one_line(compat: Compat) -> None:
    for args, message in [
        (("-Is", "bash"), "-Is: interactive jobs are not run by bsub in corral; use "
                          "`srun --pty` or `salloc`. Job not submitted.\n"),
        (("-W", "ten", "true"), "-W: 'ten' is not a run limit ([hour:]minute). "
                                "Job not submitted.\n"),
        (("-bogus", "true"), "-bogus: Illegal option. Job not submitted.\n"),
        (("-n", "0", "true"), "-n: '0' is not a number of tasks (1-100000). "
                              "Job not submitted.\n"),
        (("-w", "done(1) || done(2)", "true"),
         "-w: 'done(1) || done(2)': corral takes conditions joined by && (all of); "
         "|| and ! are not supported. Job not submitted.\n"),
    ]:
        p = compat.run("bsub", *args, rc=255)
        assert p.stderr == message, (args, p.stderr)
    p = compat.run("bsub", "-q", "nosuch", "true", rc=255)
    assert p.stderr.endswith(". Job not submitted.\n") and "nosuch" in p.stderr
    assert len(p.stderr.splitlines()) == 1
    p = compat.run("bjobs", "-o", "jobid nosuchfield", rc=255)
    assert p.stderr == "Output format error: Unknown field name <nosuchfield>\n"


def test_bqueues_and_bhosts(compat: Compat) -> None:
    lines = compat.out("bqueues").splitlines()
    assert lines[0].split()[:4] == ["QUEUE_NAME", "PRIO", "STATUS", "MAX"]
    assert lines[1].split()[0] == "main" and lines[1].split()[2] == "Open:Active"
    hosts = compat.out("bhosts").splitlines()
    assert hosts[0].split()[:4] == ["HOST_NAME", "STATUS", "JL/U", "MAX"]
    with compat.cluster.client() as c:
        nodes = c.nodes()
    for n in nodes:
        row = next(r.split() for r in hosts[1:] if r.split()[0] == n["name"])
        assert row[1] in ("ok", "closed_Full") and row[3] == str(n["cpus"])
    p = compat.run("bqueues", "nosuch", rc=255)
    assert p.stderr == "nosuch: No such queue\n"


def test_bhosts_errors_are_one_line(compat: Compat) -> None:
    p = compat.run("bhosts", "nosuchhost", rc=255)
    assert p.stderr == "nosuchhost: Bad host name, host group name or cluster name\n"
    p = compat.run("bhosts", "-bogus", rc=255)
    assert p.stderr == "-bogus: Illegal option\n"
