"""A second launcher on the same spool takes over the runs of the first (an agent
restart): real supervisors, real job processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from corral.agent import runs
from corral.agent.launcher import Launcher
from corral.agent.protocol import JobReport, Launch
from corral.agent.supervise import boottime
from tests.agent.conftest import AGENT_ID, make_launch, marked_processes

Step = Callable[[Launcher], Awaitable[None]]


def _restart(spool: Path, launches: list[Launch], between: Step, *, wait_for: int,
             lease: Path | None = None, timeout_s: float = 20
             ) -> tuple[list[JobReport], list[JobReport]]:
    """Launch with a first launcher, close it, run `between`, then let a second one
    re-adopt: (reports held again, reports of the runs it followed)."""
    async def main() -> tuple[list[JobReport], list[JobReport]]:
        first = Launcher(spool, AGENT_ID, lambda r: None, tick_s=0.1, lease_file=lease)
        for launch in launches:
            first.launch(launch)
        await asyncio.sleep(0.5)
        await first.close()
        await between(first)
        reports: list[JobReport] = []
        second = Launcher(spool, "agent-2", reports.append, tick_s=0.1, lease_file=lease)
        held = second.readopt()
        deadline = time.monotonic() + timeout_s
        while len(reports) < wait_for and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await second.close()
        return held, reports
    return asyncio.run(main())


async def _nothing(_: Launcher) -> None:
    return None


def _ticker(outdir: Path, job_id: int, ticks: int, code: int, **kw: object) -> Launch:
    script = (f"#!/bin/sh\nfor i in $(seq 1 {ticks}); do echo $$ $i >> {outdir}/{job_id}.t; "
              f"sleep 0.1; done\nexit {code}\n")
    return make_launch(job_id, outdir, script=script, **kw)


def test_a_running_job_is_followed_to_its_real_end(spool: Path, outdir: Path) -> None:
    held, reports = _restart(spool, [_ticker(outdir, 40, 15, 7, run=2)], _nothing,
                             wait_for=1)
    assert held == []
    [r] = reports
    assert (r.job_id, r.state, r.exit_code, r.run, r.lost) == (40, "FAILED", 7, 2, False)
    rows = [line.split() for line in (outdir / "40.t").read_text().splitlines()]
    assert len({pid for pid, _ in rows}) == 1 and [int(i) for _, i in rows] == list(
        range(1, 16))  # one run, never interrupted
    assert r.cpu_time_s >= 0 and r.t_end - r.t_start >= 1.4
    assert (spool / "job40" / "run2" / "report.json").exists()  # until acknowledged


def test_a_job_that_ended_meanwhile_is_reported(spool: Path, outdir: Path) -> None:
    async def wait_end(first: Launcher) -> None:
        await asyncio.sleep(2.0)  # the job ends while no launcher watches
    _, reports = _restart(spool, [_ticker(outdir, 41, 5, 3)], wait_end, wait_for=1)
    [r] = reports
    assert (r.state, r.exit_code) == ("FAILED", 3)


def test_the_time_limit_runs_on(spool: Path, outdir: Path) -> None:
    t0 = time.time()
    _, reports = _restart(spool, [make_launch(42, outdir, argv=["sleep", "30"],
                                              time_limit_s=1.5)], _nothing, wait_for=1)
    [r] = reports
    assert (r.state, r.signal) == ("TIMEOUT", signal.SIGTERM)
    assert time.time() - t0 < 4


def test_a_run_without_its_supervisor_is_killed_not_followed(spool: Path,
                                                             outdir: Path) -> None:
    async def kill_supervisor(first: Launcher) -> None:
        procs = runs.read_procs(spool / "job43" / "run0")
        assert procs is not None
        os.kill(procs.supervisor_pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
    _, reports = _restart(spool, [_ticker(outdir, 43, 300, 0)], kill_supervisor,
                          wait_for=0, timeout_s=0.5)
    assert reports == []  # the controller, not hearing of it, ends it as lost
    assert marked_processes(43) == []
    assert not (spool / "job43").exists()


def test_a_reused_pid_is_not_taken_for_the_supervisor(spool: Path, outdir: Path) -> None:
    async def forge(first: Launcher) -> None:
        path = spool / "job44" / "run0" / "procs.json"
        procs = json.loads(path.read_text())
        os.kill(procs["supervisor_pid"], signal.SIGKILL)
        procs["supervisor_pid"] = os.getpid()  # alive, but not the supervisor
        path.write_text(json.dumps(procs))
        await asyncio.sleep(0.2)
    _, reports = _restart(spool, [_ticker(outdir, 44, 300, 0)], forge, wait_for=0,
                          timeout_s=0.5)
    assert reports == [] and marked_processes(44) == []


def test_held_reports_come_back(spool: Path, outdir: Path) -> None:
    launch = make_launch(45, outdir, argv=["true"])
    run = runs.run_dir(spool, 45, 0)

    async def hold(first: Launcher) -> None:
        await asyncio.sleep(0.5)
        assert (run / "report.json").exists()
    held, _ = _restart(spool, [launch], hold, wait_for=0, timeout_s=0.1)
    assert [(r.job_id, r.state) for r in held] == [(45, "COMPLETED")]


def test_a_lapsed_lease_kills_the_job(spool: Path, outdir: Path) -> None:
    runs.write_lease(spool, boottime() + 1.0)
    t0 = time.time()
    _, reports = _restart(spool, [_ticker(outdir, 46, 300, 0)], _nothing, wait_for=1,
                          lease=spool / runs.LEASE_FILE)
    [r] = reports
    assert r.lost and r.state == "FAILED" and "lease" in r.message
    assert 1.0 <= time.time() - t0 < 4
    assert marked_processes(46) == []


def test_memory_is_limited_after_readoption(spool: Path, outdir: Path) -> None:
    hog = "import time; time.sleep(1.0); x = b'x' * (300 * 1024 * 1024); time.sleep(20)"
    _, reports = _restart(spool, [make_launch(47, outdir, argv=["python3", "-c", hog],
                                              mem_mb=100)], _nothing, wait_for=1)
    [r] = reports
    assert r.state == "OUT_OF_MEMORY" and r.max_rss_mb > 100
    assert marked_processes(47) == []


def test_a_later_run_waits_for_the_earlier_and_has_its_own_files(spool: Path,
                                                                 outdir: Path) -> None:
    """A launch of run 1 while run 0 still runs here: run 0 is killed first, and its
    directory (its script) is never rewritten by run 1."""
    script = ("#!/bin/sh\ntrap '' TERM\n"
              "while :; do echo {run} $(date +%s.%N) >> {log}; sleep 0.05; done\n")
    log = outdir / "48.t"
    first = make_launch(48, outdir, script=script.format(run=0, log=log), run=0)
    second = make_launch(48, outdir, argv=["sh", "-c", f"echo 1 $(date +%s.%N) >> {log}"],
                         run=1)

    async def main() -> tuple[list[JobReport], str]:
        reports: list[JobReport] = []
        launcher = Launcher(spool, AGENT_ID, reports.append, tick_s=0.1)
        launcher.launch(first)
        await asyncio.sleep(0.5)
        script0 = (spool / "job48" / "run0" / "script").read_text()
        assert launcher.launch(second)
        deadline = time.monotonic() + 10
        while len(reports) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await launcher.close()
        return reports, script0

    reports, script0 = asyncio.run(main())
    assert script0 == first.script
    assert [(r.run, r.state) for r in reports] == [(0, "CANCELLED"), (1, "COMPLETED")]
    rows = [line.split() for line in log.read_text().splitlines()]
    assert rows[-1][0] == "1" and all(r[0] == "0" for r in rows[:-1])  # one after the other
    assert (spool / "job48" / "run0").exists() and (spool / "job48" / "run1").exists()
