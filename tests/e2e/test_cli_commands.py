"""The corral commands against a real controller: job ids as written (array tasks
too), finished jobs said so, whole event messages, state names checked."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Cluster, temp_cluster


@pytest.fixture(scope="module")
def cl() -> Iterator[Cluster]:
    with temp_cluster("corral-cli-") as c:
        yield c


def _submit(cl: Cluster, *args: str) -> int:
    return int(cl.corral("submit", "--parsable", *args).stdout.strip())


def test_array_task_ids_are_not_read_as_other_jobs(cl: Cluster) -> None:
    singles = [_submit(cl, "-H", "--wrap", "true") for _ in range(3)]
    first = singles[0]
    arr = _submit(cl, "-H", "-a", "0-19", "--wrap", "sleep 30")
    tasks = {j["array_task_id"]: j
             for j in cl.client().jobs(array=[str(arr)], expand_arrays=True)}
    # "F_1" read with int() is job F1 (e.g. 1_1 -> 11), a task of the array here
    clash = int(f"{first}1")
    assert clash in {j["id"] for j in tasks.values()}
    for cmd in (["show"], ["events"], ["explain"], ["hold"], ["release"], ["requeue"],
                ["cancel"], ["update", "-J", "x"]):
        proc = cl.corral(*cmd, f"{first}_1", check=False)
        assert proc.returncode == 1, (cmd, proc)
        assert proc.stderr.strip().splitlines() == [
            f"corral {cmd[0]}: error: job {first}_1: no such array task"], (cmd, proc.stderr)
    assert cl.show(clash)["state"] == "HELD"  # nothing acted on it
    # a task as written names that task
    shown = cl.corral("show", f"{arr}_4").stdout
    assert f"JobId        {tasks[4]['id']}\n" in shown
    cl.corral("cancel", f"{arr}_[4-5],{arr}_7")
    cl.corral("release", f"{arr}_[8-9]")
    states = {t: cl.show(j["id"])["state"] for t, j in tasks.items()}
    assert {t for t, s in states.items() if s == "CANCELLED"} == {4, 5, 7}
    assert {t for t, s in states.items() if s == "HELD"} == set(range(20)) - {4, 5, 7, 8, 9}
    listed = cl.corral("jobs", "-a", "-j", f"{arr}_[1-2]", "--json").stdout
    assert listed.count('"display_id"') == 2
    for bad in ("+1", f"{first}_", "1.5", "1_[2"):
        proc = cl.corral("show", bad, check=False)
        assert proc.returncode == 2, (bad, proc)
        assert len(proc.stderr.strip().splitlines()) == 1 and "is not a job id" in proc.stderr
    cl.corral("cancel", *map(str, singles), f"{arr}_[0-19]")


def test_finished_jobs_are_said_to_have_ended(cl: Cluster) -> None:
    job = _submit(cl, "--wrap", "true")
    assert cl.wait(job)["state"] == "COMPLETED"
    proc = cl.corral("cancel", str(job))  # as Slurm's scancel: no error for a cancel
    assert proc.stderr.strip() == f"job {job} already ended COMPLETED"
    proc = cl.corral("cancel", "-s", "USR1", str(job), check=False)
    assert proc.returncode == 1 and f"job {job} already ended COMPLETED" in proc.stderr
    proc = cl.corral("requeue", "--hold", str(job))
    assert proc.stderr.strip() == f"job {job} had ended COMPLETED; requeued held"
    assert cl.show(job)["state"] == "HELD"
    cl.corral("cancel", str(job))


def test_unknown_states_are_bad_usage(cl: Cluster) -> None:
    proc = cl.corral("jobs", "-t", "BOGUS", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("corral jobs: error: --state: 'BOGUS' is not a job state (one of ")
    assert "PENDING" in line and "COMPLETED" in line
    assert cl.corral("jobs", "-t", "completed,pending").returncode == 0


def test_events_show_whole_messages(cl: Cluster) -> None:
    job = _submit(cl, "-H", "--wrap", "true")
    name = "n" * 150
    cl.corral("update", str(job), "-J", name)
    out = cl.corral("events", str(job)).stdout
    assert name in out
    cl.corral("cancel", str(job))


def test_jobs_fast_path_prints_what_the_full_command_line_does(cl: Cluster) -> None:
    """`corral jobs` with flags and filters, and `corral show ID`, skip click
    (corral.cli.entry) and print the same text; anything else goes through click."""
    _submit(cl, "-H", "-J", "fast-a", "--wrap", "true")
    _submit(cl, "-H", "-J", "fast-b", "-a", "0-3", "--wrap", "true")
    done = _submit(cl, "-J", "fast-c", "--wrap", "true")
    cl.wait(done)
    probe = ("import atexit, sys, runpy\n"
             "atexit.register(lambda: print('click' in sys.modules, file=sys.stderr))\n"
             "sys.argv = ['corral', *sys.argv[1:]]\n"
             "runpy.run_module('corral.cli', run_name='__main__')\n")
    def run(*args: str, full: bool = False) -> subprocess.CompletedProcess[str]:
        code = ("import sys\nfrom corral.cli.main import main\nmain(sys.argv[1:])\n"
                if full else probe)
        return subprocess.run([sys.executable, "-c", code, *args], env=cl.env,
                              capture_output=True, text=True, cwd=cl.state, timeout=60)

    for argv in (["jobs"], ["jobs", "-l"], ["jobs", "-a"], ["jobs", "-r", "-n", "fast-b"],
                 ["jobs", "--user=nobody-here"], ["jobs", "-p", "main", "-n", "fast-a"]):
        fast, full = run(*argv), run(*argv, full=True)
        assert fast.returncode == full.returncode == 0, (argv, fast.stderr, full.stderr)
        assert fast.stderr.strip() == "False", (argv, fast.stderr)  # click never imported
        assert fast.stdout == full.stdout, argv
    for job_id in (str(done), str(done - 1)):
        fast, full = run("show", job_id), run("show", job_id, full=True)
        assert fast.returncode == full.returncode == 0, (fast.stderr, full.stderr)
        assert fast.stderr.strip() == "False" and fast.stdout == full.stdout
        assert fast.stdout.startswith(f"JobId        {job_id}\n")
    missing = run("show", "999999")
    assert missing.returncode == 1 and missing.stderr.strip().endswith("True")
    assert "999999" in missing.stderr
    listed = run("jobs", "-a").stdout
    assert "fast-a" in listed and "fast-c" in listed and "CD" in listed
    assert "fast-c" not in run("jobs").stdout
    assert run("jobs", "--json").stderr.strip() == "True"
