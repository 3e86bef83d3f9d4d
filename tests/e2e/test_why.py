"""A job whose output directory comes late still runs; explain says why jobs wait or ended."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, temp_cluster


@pytest.fixture
def quick() -> Iterator[Cluster]:
    """A cluster that waits at most 1.5 s for a job's missing output directory."""
    with temp_cluster("corral-e2e-", controller_config="output_wait_s = 1.5") as c:
        yield c


def _sub(c: Cluster, *args: str) -> int:
    return int(c.corral("submit", "--parsable", *args).stdout)


def test_output_directory_made_after_submit(quick: Cluster, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    job_id = _sub(quick, "-o", str(logs / "%j.out"), "--wrap", "echo made")
    time.sleep(0.5)  # the tool makes its log directory once it has the job id
    logs.mkdir()
    assert quick.wait(job_id)["state"] == "COMPLETED"
    assert (logs / f"{job_id}.out").read_text() == "made\n"

    never = tmp_path / "never"
    job_id = _sub(quick, "-o", str(never / "%j.out"), "--wrap", "true")
    job = quick.wait(job_id)
    assert job["state"] == "FAILED"
    show = quick.corral("show", str(job_id)).stdout
    reason = next(line for line in show.splitlines() if line.startswith("Reason"))
    assert "cannot start" in reason and f"never/{job_id}.out" in reason
    text = quick.corral("explain", str(job_id)).stdout
    assert f"It could not start: cannot create {never}/{job_id}.out" in text
    assert "waited 1.5 s for its working and output directories" in text


def test_explain_names_what_holds_the_nodes(quick: Cluster) -> None:
    c = quick
    c.corral("reservation", "create", "fix", "--nodes", "node1", "--start", "now+1800",
             "--duration", "1:00:00", "--maintenance")
    waiting = _sub(c, "-t", "1:00:00", "--wrap", "true")
    c.wait_state(waiting, {"RUNNING"}, timeout_s=1.0)
    text = c.corral("explain", str(waiting)).stdout
    assert c.show(waiting)["state"] == "PENDING", text
    assert "set aside by a maintenance window from" in text, text
    assert "its time limit of 01:00:00 would run into it" in text, text
    assert "running jobs" not in text and "run on" not in text, text
    short = _sub(c, "-t", "10", "--wrap", "true")  # ends before the window: it runs
    assert c.wait(short)["state"] == "COMPLETED"
    c.corral("cancel", str(waiting))

    c.corral("node", "drain", "node1", "-r", "disk check")
    drained = _sub(c, "-t", "10", "--wrap", "true")
    job = c.wait_state(drained, {"X"}, timeout_s=1.0)
    text = c.corral("explain", str(drained)).stdout
    assert job["state"] == "PENDING" and "ReqNodeNotAvail" in text, text
    assert "Node node1 is drained by an administrator (reason: disk check)" in text, text
    c.corral("node", "resume", "node1")
    assert c.wait(drained)["state"] == "COMPLETED"


def test_explain_says_why_a_job_ended(quick: Cluster) -> None:
    c = quick
    killed = _sub(c, "--wrap", "kill -KILL $$")
    assert c.wait(killed)["state"] == "FAILED"
    text = c.corral("explain", str(killed)).stdout
    assert "killed by signal 9 (SIGKILL)" in text, text
    failed = _sub(c, "--wrap", "exit 3")
    c.wait(failed)
    assert "Its command exited with code 3" in c.corral("explain", str(failed)).stdout
    cancelled = _sub(c, "--wrap", "sleep 30")
    c.wait_state(cancelled, {"RUNNING"})
    c.corral("cancel", str(cancelled))
    c.wait(cancelled)
    assert "It was cancelled by" in c.corral("explain", str(cancelled)).stdout
