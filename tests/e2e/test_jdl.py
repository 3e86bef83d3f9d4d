"""gLite JDL jobs on a real controller with heterogeneous agents: Requirements and
Rank choose the node, an unsatisfiable JDL is refused at submit naming the clause,
a Parametric JDL gives one job per value, RetryCount runs a failing job again; a
Checkpointable job saves its state when preempted and resumes from it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.test_policies import site

__all__ = ["site"]  # the fixture of a site that preempts, used by name

AGENTS = {  # name -> (cpus, mem_mb, features)
    "small": (2, 4000, "avx2"),
    "mid": (4, 16000, "avx2,ib"),
    "big": (8, 32000, "avx2"),
    "old": (16, 64000, "sse4"),
}


@pytest.fixture(scope="module")
def hetero() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="corral-jdl-"))
    root.chmod(0o755)
    c = make_cluster(root)
    try:
        for name, (cpus, mem, feats) in AGENTS.items():
            c.start_agent(name, cpus=cpus, args=("--mem-mb", str(mem), "--features", feats))
        c.wait_idle(*AGENTS)
        yield c
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def _jdl(c: Cluster, name: str, text: str) -> Path:
    path = c.state / name
    path.write_text(text)
    return path


def test_requirements_and_rank_pick_the_biggest_eligible_node(hetero: Cluster) -> None:
    c = hetero
    path = _jdl(c, "match.jdl", """
# runs where there is memory and AVX2, on the node with the most CPUs
[
  Type = "Job";
  JobType = "Normal";
  Executable = "/bin/sh";
  Arguments = "-c 'echo ran on $CORRAL_NODELIST'";
  StdOutput = "match.out";
  StdError = "match.err";
  Requirements = other.Memory >= 8000 && member("avx2", other.Features);
  Rank = other.Cpus;
]
""")
    out = c.corral("submit", "--parsable", str(path)).stdout.split()
    job = c.wait(int(out[0]))
    assert job["state"] == "COMPLETED" and job["node_list"] == ["big"], job
    assert (c.state / "match.out").read_text().strip() == "ran on big"
    assert job["spec"]["rank"] == "other.Cpus"
    shown = c.corral("show", out[0]).stdout
    assert 'Requirements other.Memory >= 8000 && member("avx2",other.Features)\n' in shown
    assert "Rank         other.Cpus\n" in shown, shown


def test_an_unsatisfiable_jdl_is_refused_naming_the_clause(hetero: Cluster) -> None:
    c = hetero
    path = _jdl(c, "never.jdl", """
Executable = "/bin/true";
Requirements = member("avx2", other.Features) && other.Memory >= 100000;
""")
    proc = c.corral("submit", str(path), check=False)
    assert proc.returncode == 1, proc
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "requirements: no node in partition 'main' meets 'other.Memory >= 100000'" \
        in proc.stderr, proc.stderr
    bad = _jdl(c, "bad.jdl", 'Executable = "/bin/true"\nArguments = "x";\n')
    proc = c.corral("submit", "--jdl", str(bad), check=False)
    assert proc.returncode == 2 and "not a valid JDL" in proc.stderr, proc


def test_a_parametric_jdl_gives_one_job_per_value(hetero: Cluster) -> None:
    c = hetero
    path = _jdl(c, "param.jdl", """
[
  JobType = "Parametric";
  Executable = "/bin/echo";
  Arguments = "value _PARAM_";
  StdOutput = "param__PARAM_.out";
  Parameters = 10;
  ParameterStart = 0;
  ParameterStep = 2;
]
""")
    ids = [int(i) for i in c.corral("submit", "--parsable", str(path)).stdout.split()]
    assert len(ids) == 10
    jobs = [c.wait(i) for i in ids]
    assert all(j["state"] == "COMPLETED" for j in jobs), jobs
    for k in range(10):
        assert (c.state / f"param_{2 * k}.out").read_text() == f"value {2 * k}\n"
    assert [j["name"] for j in jobs] == [f"param_{2 * k}" for k in range(10)]


def test_retry_count_runs_a_failing_job_three_times(hetero: Cluster) -> None:
    c = hetero
    path = _jdl(c, "retry.jdl", """
Executable = "/bin/sh";
Arguments = "-c 'echo run >> retry.runs; exit 1'";
StdOutput = "/dev/null";
RetryCount = 2;
""")
    job_id = int(c.corral("submit", "--parsable", str(path)).stdout.split()[0])
    job = c.wait(job_id, timeout_s=60)
    assert (job["state"], job["exit_code"], job["deep_retries"]) == ("FAILED", 1, 2), job
    assert (c.state / "retry.runs").read_text() == "run\n" * 3
    assert "RetryCount   2 (max 2)\n" in c.corral("show", str(job_id)).stdout
    with c.client() as cl:
        events = cl.events(job_id)
    retries = [e for e in events if e["kind"] == "requeue"]
    assert [e["data"]["why"] for e in retries] == ["the job failed (exit code 1)"] * 2
    ends = [e for e in events if e["to_state"] == "FAILED"]
    assert len(ends) == 1 and ends[0]["data"]["not_retried"] == "retry count reached (2 of 2)"


@pytest.mark.slow  # about 20 s: a node lease must lapse
def test_shallow_retry_count_after_an_agent_killed_before_the_start() -> None:
    """The job is sent to a node whose agent was killed: its lease lapses, the job is
    requeued (ShallowRetryCount = 1) and runs once the agent is back."""
    root = Path(tempfile.mkdtemp(prefix="corral-jdl-"))
    root.chmod(0o755)
    c = make_cluster(root, controller_config="node_lease_s = 2")

    def agent() -> subprocess.Popen[bytes]:
        return c.start_agent("victim", cpus=1, args=("--features", "victim"))

    victim = agent()
    try:
        c.wait_idle("victim", timeout_s=20)
        with c.client() as cl:
            path = _jdl(c, "shallow.jdl", """
Executable = "/bin/echo"; Arguments = "ran"; StdOutput = "shallow.out";
Requirements = member("victim", other.Features);
ShallowRetryCount = 1;
""")
            job_id = int(c.corral("submit", "--parsable", "-H", str(path)).stdout.split()[0])
            victim.kill()
            victim.wait(10)
            cl.release(job_id)
            job: dict[str, object] = {}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                job = cl.job(job_id)
                if job["retries"] == 1 and job["state"] == "PENDING":
                    break
                time.sleep(0.2)
            assert (job["state"], job["retries"], job["restarts"]) == ("PENDING", 1, 1), job
            why = [e["data"]["why"] for e in cl.events(job_id) if e["kind"] == "requeue"]
            assert len(why) == 1 and why[0].startswith("NODE_FAIL"), why
            victim = agent()
            job = cl.wait(job_id, timeout_s=30)
        assert job["state"] == "COMPLETED", job
        assert (c.state / "shallow.out").read_text() == "ran\n"
    finally:
        victim.kill()
        victim.wait(10)
        c.down()
        shutil.rmtree(root, ignore_errors=True)


COUNTER = """#!/bin/sh
# counts to 30, a tenth of a second a step; resumes from state.txt; saves on SIGUSR2
n=$(cat state.txt 2>/dev/null || echo 0)
echo "run $CORRAL_RESTART_COUNT from $n" >> log.txt
trap 'echo $n > state.txt; echo "saved $n" >> log.txt; exit 0' USR2
while [ "$n" -lt 30 ]; do n=$((n + 1)); sleep 0.1 & wait $!; done
echo "done $n" >> log.txt
"""


def test_a_checkpointable_job_saves_when_preempted_and_resumes(site: Cluster) -> None:
    """JobType Checkpointable on a partition that preempts by requeue: a higher-tier job
    takes its node; it gets SIGUSR2 (not SIGTERM), saves its state, is requeued, and
    its next run resumes from what it saved."""
    c = site
    d = c.state.parent / "ckpt"
    d.mkdir()
    d.chmod(0o777)
    (d / "counter.sh").write_text(COUNTER)
    (d / "counter.sh").chmod(0o755)
    (d / "ckpt.jdl").write_text("""[
  JobType = "Checkpointable";
  Executable = "counter.sh";
  InputSandbox = {"counter.sh"};
  JobSteps = 30;
  CPUNumber = 2;
  StdOutput = "/dev/null";
]
""")
    job_id = int(c.corral("submit", "--parsable", "-p", "low", "-t", "5", "ckpt.jdl",
                          cwd=d).stdout)
    c.wait_state(job_id, {"RUNNING"})
    deadline = time.monotonic() + 20
    while "run 0" not in ((d / "log.txt").read_text() if (d / "log.txt").exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)
    boss = int(c.corral("submit", "--parsable", "-p", "high", "-c", "2", "-t", "1",
                        "-o", "/dev/null", "--wrap", "sleep 1").stdout)
    assert c.wait(boss)["state"] == "COMPLETED"
    job = c.wait(job_id, timeout_s=60)
    assert (job["state"], job["restarts"]) == ("COMPLETED", 1), job
    log = (d / "log.txt").read_text().splitlines()
    assert log[0] == "run 0 from 0" and log[1].startswith("saved "), log
    saved = int(log[1].split()[1])
    assert 0 < saved < 30 and log[2:] == [f"run 1 from {saved}", "done 30"], log
    with c.client() as cl:
        whys = [e["data"].get("why") for e in cl.events(job_id) if e["kind"] == "requeue"]
    assert whys == ["preempted"]
