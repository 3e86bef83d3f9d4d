"""cgroup v2 support: detection here (v1 machine) and the launch gate path."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from corral.agent.cgroup import CgroupManager
from corral.agent.launcher import Launcher
from corral.agent.protocol import JobReport
from tests.agent.conftest import AGENT_ID, make_launch


def test_detect_never_raises() -> None:
    manager = CgroupManager.detect("t")
    assert manager is None or manager.base.exists()


def test_job_waits_at_the_gate_until_placed(tmp_path: Path, spool: Path, outdir: Path) -> None:
    """With a cgroup manager, the pid is written to cgroup.procs before the job runs.

    A plain directory stands in for the cgroup2 tree: the files are ordinary files.
    """
    cg_base = tmp_path / "cg"
    cg_base.mkdir()

    async def main() -> JobReport:
        done: list[JobReport] = []
        launcher = Launcher(spool, AGENT_ID, done.append, cgroups=CgroupManager(cg_base, "x"))
        launcher.launch(make_launch(31, outdir, argv=["sh", "-c", "echo in; exit 4"],
                                    mem_mb=64))
        job_dir = cg_base / "job31-x"
        assert (job_dir / "memory.max").read_text() == f"{64 * 1024 * 1024}\n"
        deadline = time.monotonic() + 10
        job = launcher.jobs[31]  # held: a job this short may end and leave the table
        while not job.job_pid and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # the supervisor names the job's pid
        pid = job.job_pid
        assert pid and (job_dir / "cgroup.procs").read_text() == f"{pid}\n"
        while not done and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await launcher.close()
        return done[0]

    report = asyncio.run(main())
    assert (report.state, report.exit_code) == ("FAILED", 4)
    assert (outdir / "31.out").read_text() == "in\n"
