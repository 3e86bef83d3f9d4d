"""The node's shepherd forks the runs' supervisors: real shepherd, supervisors and
jobs; the shepherd killed or hung mid-way."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from corral.agent import runs, supervisors
from corral.agent.launcher import Launcher
from corral.agent.protocol import JobReport, Launch
from corral.agent.supervise import claim, claimed_by
from tests.agent.conftest import AGENT_ID, make_launch, marked_processes


def _ticker(outdir: Path, job_id: int, ticks: int, code: int) -> Launch:
    script = (f"#!/bin/sh\nfor i in $(seq 1 {ticks}); do echo $$ $i >> {outdir}/{job_id}.t; "
              f"sleep 0.1; done\nexit {code}\n")
    return make_launch(job_id, outdir, script=script)


async def _until(what: str, ok: object, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


def _one_uninterrupted_run(outdir: Path, job_id: int, ticks: int) -> None:
    rows = [line.split() for line in (outdir / f"{job_id}.t").read_text().splitlines()]
    assert len({pid for pid, _ in rows}) == 1
    assert [int(i) for _, i in rows] == list(range(1, ticks + 1))


def test_one_shepherd_forks_every_supervisor(spool: Path, outdir: Path) -> None:
    async def main() -> tuple[list[JobReport], set[int], int | None, int]:
        reports: list[JobReport] = []
        launcher = Launcher(spool, AGENT_ID, reports.append, tick_s=0.1)
        for job_id in (1, 2, 3):
            launcher.launch(_ticker(outdir, job_id, 5, job_id))
        assert launcher.shepherd is not None
        shepherd = launcher.shepherd.pid
        parents = {psutil.Process(j.supervisor_pid).ppid() for j in launcher.jobs.values()}
        await _until("three reports", lambda: len(reports) == 3)
        starts = launcher.shepherd.starts
        await launcher.close()
        return reports, parents, shepherd, starts
    reports, parents, shepherd, starts = asyncio.run(main())
    assert sorted((r.job_id, r.state, r.exit_code) for r in reports) == [
        (1, "FAILED", 1), (2, "FAILED", 2), (3, "FAILED", 3)]
    assert parents == {shepherd} and starts == 1
    for job_id in (1, 2, 3):
        _one_uninterrupted_run(outdir, job_id, 5)
    assert shepherd is not None and runs.start_time(shepherd) is None  # ends with the agent


def test_a_shepherd_killed_mid_job_leaves_the_job_to_end_once(spool: Path,
                                                               outdir: Path) -> None:
    async def main() -> tuple[list[JobReport], int]:
        reports: list[JobReport] = []
        launcher = Launcher(spool, AGENT_ID, reports.append, tick_s=0.1)
        launcher.launch(_ticker(outdir, 10, 10, 5))
        assert launcher.shepherd is not None and launcher.shepherd.pid is not None
        await asyncio.sleep(0.3)
        os.kill(launcher.shepherd.pid, signal.SIGKILL)
        await _until("the report", lambda: len(reports) == 1)
        launcher.launch(make_launch(11, outdir, argv=["sh", "-c", "echo again"]))
        await _until("the second report", lambda: len(reports) == 2)
        await asyncio.sleep(0.3)  # no other report comes
        starts = launcher.shepherd.starts
        await launcher.close()
        assert len(reports) == 2
        return reports, starts
    reports, starts = asyncio.run(main())
    first, second = reports
    assert (first.job_id, first.state, first.exit_code, first.lost) == (10, "FAILED", 5, False)
    _one_uninterrupted_run(outdir, 10, 10)
    assert (second.job_id, second.state) == (11, "COMPLETED")
    assert (outdir / "11.out").read_text() == "again\n"
    assert starts == 2  # a new shepherd for the next run
    assert marked_processes(10) == []


def test_a_request_left_unanswered_never_starts_the_run(spool: Path, outdir: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """A hung shepherd: the run is claimed by the agent, so no supervisor ever takes
    it, and it is reported as not started; the next run gets a new shepherd."""
    monkeypatch.setattr(supervisors, "REPLY_TIMEOUT_S", 0.5)
    monkeypatch.setattr(supervisors, "CLAIM_WAIT_S", 0.3)

    async def main() -> list[JobReport]:
        reports: list[JobReport] = []
        launcher = Launcher(spool, AGENT_ID, reports.append, tick_s=0.1)
        launcher.launch(make_launch(20, outdir, argv=["true"]))
        await _until("the first report", lambda: len(reports) == 1)
        assert launcher.shepherd is not None and launcher.shepherd.pid is not None
        hung = launcher.shepherd.pid
        os.kill(hung, signal.SIGSTOP)
        launcher.launch(make_launch(21, outdir, argv=["sh", "-c", "echo ran"]))
        assert runs.start_time(hung) is None  # killed
        launcher.launch(make_launch(22, outdir, argv=["sh", "-c", "echo ran"]))
        await _until("three reports", lambda: len(reports) == 3)
        await asyncio.sleep(0.5)
        await launcher.close()
        return reports
    reports = asyncio.run(main())
    by_id = {r.job_id: r for r in reports}
    assert by_id[20].state == "COMPLETED" and by_id[22].state == "COMPLETED"
    assert by_id[21].state == "FAILED"
    assert "its supervisor did not start" in by_id[21].message
    assert not (outdir / "21.out").exists()  # never ran
    assert (outdir / "22.out").read_text() == "ran\n"


def test_the_agent_restarted_readopts_shepherded_runs(spool: Path, outdir: Path) -> None:
    """The agent stops (its shepherd exits with it); the supervisors go on and the
    next agent follows the run to its end."""
    async def main() -> tuple[list[JobReport], bool]:
        first = Launcher(spool, AGENT_ID, lambda r: None, tick_s=0.1)
        first.launch(_ticker(outdir, 30, 12, 4))
        assert first.shepherd is not None
        shepherd = first.shepherd.pid
        await asyncio.sleep(0.4)
        await first.close()
        gone = shepherd is not None and runs.start_time(shepherd) is None
        reports: list[JobReport] = []
        second = Launcher(spool, "agent-2", reports.append, tick_s=0.1)
        assert second.readopt() == []
        await _until("the report", lambda: len(reports) == 1)
        await second.close()
        return reports, gone
    reports, shepherd_gone = asyncio.run(main())
    [r] = reports
    assert (r.job_id, r.state, r.exit_code) == (30, "FAILED", 4) and shepherd_gone
    _one_uninterrupted_run(outdir, 30, 12)


def test_a_run_is_claimed_once(tmp_path: Path) -> None:
    assert claimed_by(str(tmp_path)) is None
    assert claim(str(tmp_path), "123")
    assert not claim(str(tmp_path), supervisors.AGENT_CLAIM)
    assert claimed_by(str(tmp_path)) == "123"
    assert supervisors.settle(tmp_path) == 123
    assert sorted(p.name for p in tmp_path.iterdir()) == ["supervisor"]
