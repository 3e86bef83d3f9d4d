"""Grid Engine front ends against a real corral."""

from __future__ import annotations

import re

import pytest

from tests.compat.conftest import Compat

SCRIPT = """#!/bin/bash
#$ -N sgejob
#$ -l h_rt=0:10:00,h_vmem=100M
echo "job=$JOB_ID name=$JOB_NAME task=$SGE_TASK_ID slots=$NSLOTS"
"""


def test_qsub_script_and_qacct(compat: Compat) -> None:
    (compat.work / "sge.sh").write_text(SCRIPT)
    out = compat.out("qsub", "-cwd", "sge.sh")
    m = re.fullmatch(r'Your job (\d+) \("sgejob"\) has been submitted\n', out)
    assert m, out
    job_id = int(m.group(1))
    job = compat.cluster.wait(job_id)
    assert job["state"] == "COMPLETED" and job["time_limit_s"] == 600
    assert job["mem_mb_per_node"] == 100
    assert (compat.work / f"sgejob.o{job_id}").read_text() == (
        f"job={job_id} name=sgejob task=undefined slots=1\n")
    assert (compat.work / f"sgejob.e{job_id}").exists()
    text = compat.out("qacct", "-j", str(job_id))
    assert text.startswith("=" * 62 + "\nqname        main\n")
    assert f"jobnumber    {job_id}\n" in text and "exit_status  0\n" in text
    p = compat.run("qacct", "-j", "999999", rc=1)
    assert p.stderr == "error: job id 999999 not found\n"


def test_qsub_binary_terse_pe_and_join(compat: Compat) -> None:
    out = compat.out("qsub", "-terse", "-cwd", "-b", "y", "-j", "y", "-N", "bin",
                     "-pe", "smp", "2", "sh", "-c", "echo out; echo err >&2; exit 5")
    job_id = int(out)
    job = compat.cluster.wait(job_id)
    assert job["cpus"] == 2 and job["exit_code"] == 5
    assert (compat.work / f"bin.o{job_id}").read_text() == "out\nerr\n"


def test_qsub_array(compat: Compat) -> None:
    (compat.work / "sge.sh").write_text(SCRIPT)
    p = compat.run("qsub", "-terse", "-cwd", "-t", "1-3:2", "sge.sh", rc=None)
    if p.returncode:
        pytest.skip(f"the controller does not take arrays yet: {p.stderr.strip()}")
    assert re.fullmatch(r"\d+\.1-3:2\n", p.stdout)
    arr = int(p.stdout.split(".")[0])
    with compat.cluster.client() as c:
        tasks = [j for j in c.jobs() if j.get("array_job_id") == arr]
        for t in tasks:
            c.wait(t["id"])
    assert (compat.work / f"sgejob.o{arr}.3").read_text() == (
        f"job={arr} name=sgejob task=3 slots=1\n")


def test_qsub_errors(compat: Compat) -> None:
    p = compat.run("qsub", "-bogus", rc=1)
    assert p.stderr == "qsub: Unknown option -bogus\n"
    p = compat.run("qsub", "-q", "nosuch", "-b", "y", "true", rc=1)
    assert p.stderr.startswith("qsub: Unable to run job: ")


def test_qstat_qdel_hold(compat: Compat) -> None:
    job_id = int(compat.out("qsub", "-terse", "-h", "-cwd", "-N", "waiter", "-b", "y",
                            "true"))
    lines = compat.out("qstat").splitlines()
    assert lines[0].startswith("job-ID  prior   name       user         state submit/start at")
    assert set(lines[1]) == {"-"}
    row = next(ln for ln in lines[2:] if ln.split()[0] == str(job_id))
    assert row.split()[2:5] == ["waiter", row.split()[3], "hqw"]
    xml = compat.out("qstat", "-xml")
    assert f"<JB_job_number>{job_id}</JB_job_number>" in xml and "<state>hqw</state>" in xml
    detail = compat.out("qstat", "-j", str(job_id))
    assert f"job_number:                 {job_id}\n" in detail
    assert "job_name:                   waiter\n" in detail
    p = compat.run("qstat", "-j", "999999", rc=1)
    assert "Following jobs do not exist" in p.stderr
    assert compat.out("qrls", str(job_id)) == f"modified hold of job {job_id}\n"
    compat.cluster.wait(job_id)
    long_job = int(compat.out("qsub", "-terse", "-cwd", "-b", "y", "sleep", "60"))
    compat.cluster.wait_state(long_job, {"RUNNING"})
    out = compat.out("qdel", str(long_job))
    assert re.fullmatch(rf"\S+ has registered the job {long_job} for deletion\n", out)
    assert compat.cluster.wait(long_job)["state"] == "CANCELLED"
    p = compat.run("qdel", "999999", rc=1)
    assert p.stderr == 'denied: job "999999" does not exist\n'


def test_qhost(compat: Compat) -> None:
    lines = compat.out("qhost").splitlines()
    assert lines[0].split()[:4] == ["HOSTNAME", "ARCH", "NCPU", "NSOC"]
    assert lines[2].split()[0] == "global"
    assert lines[3].split()[:3] == ["node1", "lx-amd64", "4"]
