"""Fixtures for the agent tests: real processes, real directories, real HTTP."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from corral.agent.launcher import Launcher
from corral.agent.protocol import JobReport, Launch

AGENT_ID = "test-agent"
IS_ROOT = os.geteuid() == 0


@pytest.fixture
def spool() -> Iterator[Path]:
    """A spool outside pytest's 0700 tmp tree, so jobs run as `nobody` can reach it."""
    path = Path(tempfile.mkdtemp(prefix="corral-spool-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def outdir() -> Iterator[Path]:
    """A world-writable directory for job output (jobs may run as `nobody`)."""
    path = Path(tempfile.mkdtemp(prefix="corral-out-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_launch(job_id: int, outdir: Path, **kw: Any) -> Launch:
    """A Launch for the agent's own user unless uid/gid are given."""
    d: dict[str, Any] = {
        "job_id": job_id, "name": f"t{job_id}", "user": "tester",
        "uid": os.getuid(), "gid": os.getgid(),
        "script": None, "argv": [], "working_dir": str(outdir),
        "environment": {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "K": "V"},
        "stdout": str(outdir / f"{job_id}.out"), "time_limit_s": 0, "mem_mb": None,
        "cpus": 1, "gpus": 0, "node_list": ["n1"], "kill_grace_s": 1,
    }
    d.update(kw)
    if d["script"] is None and not d["argv"]:
        d["argv"] = ["true"]
    d.setdefault("stderr", d["stdout"])
    return Launch.from_dict(d)


Step = Callable[[Launcher], Any]


def run_jobs(spool: Path, launches: list[Launch], *, steps: list[tuple[float, Step]] = (),  # type: ignore[assignment]
             timeout_s: float = 30.0, tick_s: float = 0.1) -> dict[int, JobReport]:
    """Launch `launches`, run `steps` (after delays), wait for every report."""
    async def main() -> dict[int, JobReport]:
        reports: dict[int, JobReport] = {}

        def acknowledge(r: JobReport) -> None:  # as the agent does once the controller has it
            reports[r.job_id] = r
            launcher.discard(r.job_id, r.run)
        launcher = Launcher(spool, AGENT_ID, acknowledge, tick_s=tick_s)
        for launch in launches:
            launcher.launch(launch)
        for delay_s, step in steps:
            await asyncio.sleep(delay_s)
            step(launcher)
        deadline = time.monotonic() + timeout_s
        while len(reports) < len({x.job_id for x in launches}) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await launcher.close()
        return reports

    return asyncio.run(main())


def marked_processes(job_id: int) -> list[int]:
    """Live (non-zombie) processes carrying this job's marker environment."""
    out = []
    for p in psutil.process_iter():
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            env = p.environ()
        except psutil.Error:
            continue
        if env.get("CORRAL_AGENT_ID") == AGENT_ID and env.get("CORRAL_JOB_ID") == str(job_id):
            out.append(p.pid)
    return out
