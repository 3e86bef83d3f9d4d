"""The gLite WMS drop-ins against a real corral: submit, status, logging-info, cancel,
output; golden outputs (job ids, host and times masked) and errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.compat.conftest import Compat

JDL = """[
  Executable = "/bin/sh";
  Arguments = "-c 'echo hello from _PARAM_ > result_PARAM_.dat; echo out'";
  StdOutput = "std_PARAM_.out";
  StdError = "std_PARAM_.err";
  OutputSandbox = {"std_PARAM_.out", "std_PARAM_.err", "result_PARAM_.dat"};
  JobType = "Parametric";
  Parameters = 2; ParameterStart = 1; ParameterStep = 1;
  Requirements = other.Cpus >= 1;
]
"""
SUBMIT_GOLDEN = """
Connecting to the service corral


====================== glite-wms-job-submit Success ======================

The job has been successfully submitted to the WMProxy
Your Parametric job has 2 nodes; their identifiers are:

https://HOST:9000/ID
https://HOST:9000/ID

The job identifier has been saved in the following file:
ids.txt

==========================================================================

"""
STATUS_GOLDEN = """

====================== glite-wms-job-status Success ======================
BOOKKEEPING INFORMATION:

Status info for the Job : https://HOST:9000/ID
Current Status:     Done (Success)
Exit code:          0
Status Reason:      Job terminated successfully
Destination:        node1
Submitted:          TIME
==========================================================================

"""
LOGGING_GOLDEN = """
=================== glite-wms-job-logging-info Success ===================

LOGGING INFORMATION:

Printing info for the Job : https://HOST:9000/ID

        ---
Event: RegJob
        ---
Event: Accepted
        ---
Event: Match
        ---
Event: EnQueued
        ---
Event: Running
        ---
Event: Done
==========================================================================

"""

OUTPUT_GOLDEN = """
================================================================================

                             JOB GET OUTPUT OUTCOME

Output sandbox files for the job:
https://HOST:9000/ID
have been successfully retrieved and stored in the directory:
{dest}

================================================================================

"""


def _mask(text: str) -> str:
    text = re.sub(r"https://[^/\s]+:9000/\d+", "https://HOST:9000/ID", text)
    return re.sub(r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d \d{4} \w+", "TIME", text)


def _run(compat: Compat, *args: str, rc: int = 0,
         input: str | None = None) -> subprocess.CompletedProcess[str]:
    """The commands keep their record of retrieved outputs under XDG_CACHE_HOME."""
    return compat.run(*args, rc=rc, env={"XDG_CACHE_HOME": str(compat.work / "cache")},
                      input=input)


def _out(compat: Compat, *args: str) -> str:
    return _run(compat, *args).stdout


def _ids(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"https://[^/\s]+:9000/(\d+)", text)]


def _wait(compat: Compat, job_id: int) -> None:
    job = compat.cluster.wait(job_id)
    assert job["state"] == "COMPLETED", job


def test_submit_status_logging_output(compat: Compat) -> None:
    (compat.work / "p.jdl").write_text(JDL)
    out = _out(compat, "glite-wms-job-submit", "-a", "-o", "ids.txt", "p.jdl")
    assert _mask(out) == SUBMIT_GOLDEN, out
    ids = _ids(out)
    saved = (compat.work / "ids.txt").read_text().splitlines()
    assert saved[0] == "###Submitted Job Ids###" and _ids("\n".join(saved)) == ids
    for i in ids:
        _wait(compat, i)
    out = _out(compat, "glite-wms-job-status", "-v", "0", str(ids[0]))
    assert _mask(out) == STATUS_GOLDEN, out
    # -v 1: the times each state was entered; -i: the ids file
    out = _out(compat, "glite-wms-job-status", "-i", "ids.txt")
    assert out.count("Current Status:     Done (Success)") == 2
    assert "      Submitted: " in out and "      Cleared:          ---" in out
    out = _out(compat, "glite-wms-job-logging-info", "-v", "0", f"https://h:9000/{ids[0]}")
    assert _mask(out) == LOGGING_GOLDEN, out
    out = _out(compat, "glite-wms-job-logging-info", "-v", "2", str(ids[0]))
    assert "- State                      =    Ready" in out
    assert "- Dest id                    =    node1" in out
    out = _out(compat, "glite-wms-job-output", "--dir", "outs", str(ids[1]))
    dest = compat.work / "outs" / f"{compat.cluster.show(ids[1])['user']}_{ids[1]}"
    assert _mask(out) == OUTPUT_GOLDEN.format(dest=dest), out
    assert sorted(p.name for p in dest.iterdir()) == ["result2.dat", "std2.err", "std2.out"]
    assert (dest / "result2.dat").read_text() == "hello from 2\n"
    assert (dest / "std2.out").read_text() == "out\n"
    out = _out(compat, "glite-wms-job-status", "-v", "0", str(ids[1]))
    assert "Current Status:     Cleared" in out
    out = _out(compat, "glite-wms-job-logging-info", "-v", "1", str(ids[1]))
    assert out.rstrip().split("Event: ")[-1].startswith("Clear\n")


def test_cancel_and_the_failed_and_waiting_states(compat: Compat) -> None:
    (compat.work / "sleep.jdl").write_text(
        'Executable = "/bin/sleep"; Arguments = "60"; StdOutput = "/dev/null";\n')
    (compat.work / "fail.jdl").write_text(
        'Executable = "/bin/sh"; Arguments = "-c \'exit 3\'"; StdOutput = "/dev/null";\n')
    sleeper = _ids(_out(compat, "glite-wms-job-submit", "-a", "sleep.jdl"))[0]
    failing = int(_out(compat, "glite-wms-job-submit", "-a", "--nomsg", "fail.jdl")
                  .strip().rsplit("/", 1)[1])
    job = compat.cluster.wait(failing)
    assert job["state"] == "FAILED"
    out = _out(compat, "glite-wms-job-status", "-v", "0", str(failing))
    assert "Current Status:     Done (Exit Code !=0)\nExit code:          3\n" in out
    compat.cluster.wait_state(sleeper, {"RUNNING"})
    assert "Current Status:     Running" in _out(compat, "glite-wms-job-status", str(sleeper))
    out = _out(compat, "glite-wms-job-cancel", "--noint", str(sleeper))
    assert _mask(out).endswith("The cancellation request has been successfully submitted "
                               "for the following job(s):\n\n- https://HOST:9000/ID\n\n"
                               + "=" * 74 + "\n\n"), out
    deadline = time.monotonic() + 20
    while compat.cluster.show(sleeper)["state"] != "CANCELLED" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Current Status:     Cancelled" in _out(compat, "glite-wms-job-status", str(sleeper))
    # --all: every job of the user's made from a JDL
    out = _out(compat, "glite-wms-job-status", "--all", "-v", "0")
    assert set(_ids(out)) >= {sleeper, failing}, out
    # a second cancel, an unknown job, a bad id, a running job's output: errors
    p = _run(compat, "glite-wms-job-cancel", "--noint", str(sleeper), rc=1)
    assert _mask(p.stderr) == ("Error - Operation Failed\nUnable to cancel the job: "
                               "https://HOST:9000/ID\nthe job has already ended\n")
    p = _run(compat, "glite-wms-job-status", "999999", rc=1)
    assert _mask(p.stderr) == ("Error - Unable to retrieve the status for: "
                               "https://HOST:9000/ID\nno such job\n")
    p = _run(compat, "glite-wms-job-status", "not-an-id", rc=1)
    assert p.stderr == ("Error - Wrong Input Parameter\n'not-an-id' is not a job identifier "
                        "(https://HOST:9000/ID or ID)\n")
    p = _run(compat, "glite-wms-job-submit", "sleep.jdl", rc=1)
    assert p.stderr.startswith("glite-wms-job-submit: error: give -a (automatic delegation)")


def test_submit_errors(compat: Compat) -> None:
    (compat.work / "never.jdl").write_text(
        'Executable = "/bin/true"; Requirements = other.Memory > 99999999;\n')
    p = _run(compat, "glite-wms-job-submit", "-a", "never.jdl", rc=1)
    assert p.stderr == ("Error - Operation Failed\nrequirements: no node in partition "
                        "'main' meets 'other.Memory > 99999999'\n"), p.stderr
    (compat.work / "bad.jdl").write_text('Executable = "/bin/true"; JobType = "MPICH";\n')
    p = _run(compat, "glite-wms-job-submit", "-a", "bad.jdl", rc=1)
    assert p.stderr == ("Error - Invalid JDL\nbad.jdl: NodeNumber: an MPICH job must give "
                        "it (or CPUNumber): its number of MPI ranks\n"), p.stderr
    (compat.work / "bad.jdl").write_text('Executable = "x"; JobType = "Partitionable";\n')
    p = _run(compat, "glite-wms-job-submit", "-a", "bad.jdl", rc=1)
    assert p.stderr == ("Error - Invalid JDL\nbad.jdl: JobType: 'Partitionable' is not "
                        "supported (supported: Normal, Parametric, Collection, DAG, MPICH, "
                        "Interactive, Checkpointable)\n"), p.stderr
    p = _run(compat, "glite-wms-job-submit", "-a", "missing.jdl", rc=1)
    assert p.stderr == "Error - Input File Error\nmissing.jdl: No such file or directory\n"
    assert not Path(compat.work / "ids.none").exists()


INTERACTIVE = """[
  JobType = "Interactive";
  Executable = "/bin/sh";
  Arguments = "-c 'tty; read line; echo \\"got $line\\"; exit 3'";
  InputSandbox = {"motd.txt"};
]
"""


def test_an_interactive_job_is_attached_to_the_terminal(compat: Compat) -> None:
    """glite-wms-job-submit of an Interactive JDL: the executable runs on a node in a
    pseudo terminal, gets what is typed here, its output comes here; the exit status
    is the job's, and its allocation is given back."""
    (compat.work / "motd.txt").write_text("staged\n")
    (compat.work / "inter.jdl").write_text(INTERACTIVE.replace(
        "tty;", "tty; cat motd.txt;"))
    p = _run(compat, "glite-wms-job-submit", "-a", "--nogui", "inter.jdl", rc=3,
             input="hello\n")
    head, _, rest = p.stdout.partition("=" * 74 + "\n\n")
    assert _mask(head) == SUBMIT_ONE_GOLDEN, head
    lines = [ln.rstrip("\r") for ln in rest.splitlines()]
    assert "hello" in lines, lines  # what was typed, echoed by the job's terminal
    lines.remove("hello")
    assert re.fullmatch(r"/dev/pts/\d+", lines[0]), lines
    assert lines[1:] == ["staged", "got hello"], lines
    job = compat.cluster.show(_ids(head)[0])
    assert job["state"] == "FAILED" and job["exit_code"] == 3 and job["spec"]["interactive"], job
    p = compat.cluster.corral("submit", "inter.jdl", cwd=compat.work, check=False)
    assert p.returncode == 2 and "JobType: 'Interactive' jobs run attached to a terminal: " \
        "submit it with glite-wms-job-submit" in p.stderr, p.stderr


SUBMIT_ONE_GOLDEN = """
Connecting to the service corral


====================== glite-wms-job-submit Success ======================

The job has been successfully submitted to the WMProxy
Your job identifier is:

https://HOST:9000/ID

"""


def test_an_unknown_job_is_an_error_for_every_command(compat: Compat) -> None:
    """Each command names what it could not do for the job, then why (gLite's
    `Error - TITLE` then the reason), on stderr with exit code 1."""
    for args, title in [
        (("glite-wms-job-cancel", "--noint"),
         "Error - Operation Failed\nUnable to cancel the job: "),
        (("glite-wms-job-output",), "Error - Unable to retrieve the output for: "),
        (("glite-wms-job-logging-info",),
         "Error - Unable to retrieve the logging information for: "),
        (("glite-wms-job-status",), "Error - Unable to retrieve the status for: "),
    ]:
        p = _run(compat, *args, "https://h:9000/999999", rc=1)
        assert _mask(p.stderr) == f"{title}https://HOST:9000/ID\nno such job\n", p.stderr
        assert p.stdout == ""


def _status_until(compat: Compat, job_id: int, state: str, timeout_s: float = 40) -> str:
    """glite-wms-job-status's answer once it shows `state` (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = _out(compat, "glite-wms-job-status", "-v", "0", str(job_id))
        if f"Current Status:     {state}\n" in out or time.monotonic() > deadline:
            return out
        time.sleep(0.2)


def _submit(compat: Compat, name: str, jdl: str) -> int:
    (compat.work / name).write_text(jdl)
    return _ids(_out(compat, "glite-wms-job-submit", "-a", name))[0]


@pytest.mark.slow  # about 30 s: a node's lease must lapse for Aborted
def test_waiting_scheduled_and_aborted(compat: Compat) -> None:
    """Waiting: a held job; Scheduled: a job in the queue that a node can run once
    it is free; Aborted: a job lost with its node (no ShallowRetryCount left)."""
    sleep4 = ('Executable = "/bin/sleep"; Arguments = "60"; StdOutput = "/dev/null";\n'
              "CPUNumber = 4;\n")
    blocker = _submit(compat, "blocker.jdl", sleep4)
    compat.cluster.wait_state(blocker, {"RUNNING"})
    queued = _submit(compat, "queued.jdl", sleep4)
    out = _status_until(compat, queued, "Scheduled")
    assert "Current Status:     Scheduled\n" in out, out
    assert "Status Reason:      queued: Resources\n" in out, out
    with compat.cluster.client() as c:
        c.hold(queued)
        out = _status_until(compat, queued, "Waiting")
        assert "Current Status:     Waiting\nStatus Reason:      job held\n" in out, out
        c.cancel(queued)
        c.cancel(blocker)

    # a node of its own, whose agent is killed under a running job
    victim = compat.cluster.start_agent("victim", cpus=1, args=("--features", "victim"))
    try:
        compat.cluster.wait_idle("victim", timeout_s=20)
        with compat.cluster.client() as c:
            lost = _submit(compat, "lost.jdl", (
                'Executable = "/bin/sleep"; Arguments = "90"; StdOutput = "/dev/null";\n'
                'Requirements = member("victim", other.Features); ShallowRetryCount = 0;\n'))
            compat.cluster.wait_state(lost, {"RUNNING"})
            os.killpg(victim.pid, signal.SIGKILL)  # the agent and what it started
            victim.wait(10)
            assert compat.cluster.wait_state(lost, {"NODE_FAIL"}, 60)["state"] == "NODE_FAIL"
            out = _out(compat, "glite-wms-job-status", "-v", "0", str(lost))
            assert ("Current Status:     Aborted\n"
                    "Status Reason:      the node running the job failed\n") in out, out
            events = _out(compat, "glite-wms-job-logging-info", "-v", "0", str(lost))
            assert events.rstrip().split("Event: ")[-1].startswith("Abort\n"), events
            c.delete_node("victim")
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait(10)
