"""Each job's prolog and epilog on its node (docs/specs/02-agent-protocol.md §6).

Like Slurm's Prolog and Epilog: the site's programs run as the agent's own user
(root on a production node), the prolog before the job starts, the epilog after it
has ended and before its report leaves, each with the job's facts in its
environment and a timeout. A prolog that fails (non-zero exit or timeout) keeps the
job from starting: the report says so (`prolog_failed`), and the controller drains
the node and requeues the job. A failing epilog is reported with the job's end
(`epilog_failed`); the controller drains the node.

While its prolog runs a job counts as running here (it is in the poll's `running`,
pid 0); a cancel then stops it from starting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from corral.agent.protocol import JobReport, Launch, RunningJob
from corral.agent.siteprog import (
    ProgramResult,
    base_environment,
    program_of,
    run_program,
    seconds_of,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class ScriptSettings:
    prolog: str | None = None
    epilog: str | None = None
    prolog_timeout_s: float = DEFAULT_TIMEOUT_S
    epilog_timeout_s: float = DEFAULT_TIMEOUT_S

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ScriptSettings:
        """From the `agent` settings of the controller's register answer."""
        return cls(program_of(config, "prolog"), program_of(config, "epilog"),
                   seconds_of(config, "prolog_timeout_s", DEFAULT_TIMEOUT_S),
                   seconds_of(config, "epilog_timeout_s", DEFAULT_TIMEOUT_S))


@dataclass(slots=True)
class _Starting:
    launch: Launch
    cancelled: bool = False


def script_environment(node: str, launch: Launch, context: str) -> dict[str, str]:
    """What a prolog or epilog sees of its job (Slurm's names and corral's)."""
    env = base_environment(node)
    nodes = ",".join(launch.node_list)
    for prefix in ("SLURM", "CORRAL"):
        env.update({f"{prefix}_JOB_ID": str(launch.job_id),
                    f"{prefix}_JOB_NAME": launch.name,
                    f"{prefix}_JOB_USER": launch.user,
                    f"{prefix}_JOB_UID": str(launch.uid),
                    f"{prefix}_JOB_GID": str(launch.gid),
                    f"{prefix}_JOB_NODELIST": nodes,
                    f"{prefix}_RESTART_COUNT": str(launch.run),
                    f"{prefix}_SCRIPT_CONTEXT": context})
    env["CORRAL_SUBMIT_DIR"] = launch.working_dir
    for key in ("SLURM_JOB_PARTITION", "SLURM_JOB_ACCOUNT", "SLURM_ARRAY_JOB_ID",
                "SLURM_ARRAY_TASK_ID"):
        if key in launch.environment:
            env[key] = launch.environment[key]
    return env


Start = Callable[[Launch], object]
ReportSink = Callable[[JobReport], None]


class JobScripts:
    """Runs the prolog before a job starts and the epilog after it ends."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.settings = ScriptSettings()
        self.starting: dict[int, _Starting] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def has_prolog(self) -> bool:
        return self.settings.prolog is not None

    def configure(self, settings: ScriptSettings) -> None:
        if settings != self.settings:
            log.info("prolog %s, epilog %s", settings.prolog or "none",
                     settings.epilog or "none")
        self.settings = settings

    # -- prolog ------------------------------------------------------------------------
    def begin(self, launch: Launch, start: Start, on_report: ReportSink) -> bool:
        """Run the prolog, then `start` the job (or report why not). False: its prolog
        is running already (a repeated launch order)."""
        if launch.job_id in self.starting:
            return False
        self.starting[launch.job_id] = _Starting(launch)
        self._spawn(self._prolog(launch, start, on_report))
        return True

    def cancel(self, job_id: int) -> bool:
        starting = self.starting.get(job_id)
        if starting is None:
            return False
        starting.cancelled = True
        return True

    def running(self) -> list[RunningJob]:
        return [RunningJob(job_id, 0) for job_id in self.starting]

    async def _prolog(self, launch: Launch, start: Start, on_report: ReportSink) -> None:
        t_start = time.time()
        program = self.settings.prolog
        result = (ProgramResult(True, 0, "", "no prolog") if program is None else
                  await run_program(f"prolog {program}",  program,
                                    script_environment(self.node, launch, "prolog_slurmd"),
                                    self.settings.prolog_timeout_s))
        starting = self.starting.pop(launch.job_id, None)
        report = JobReport(launch.job_id, "FAILED", exit_code=1, t_start=t_start,
                           t_end=time.time(), run=launch.run)
        if not result.ok:
            log.warning("job %d: %s; not started", launch.job_id, result.message)
            report.message = report.prolog_message = result.message
            report.prolog_failed = True
        elif starting is not None and starting.cancelled:
            report.state, report.cancelled, report.exit_code = "CANCELLED", True, None
        else:
            start(launch)
            return
        on_report(report)

    # -- epilog ------------------------------------------------------------------------
    async def epilog(self, launch: Launch, report: JobReport) -> None:
        """Run the epilog of a job that has ended here; a failure is noted in its report."""
        program = self.settings.epilog
        if program is None:
            return
        env = script_environment(self.node, launch, "epilog_slurmd")
        env["CORRAL_JOB_STATE"] = report.state
        if report.exit_code is not None:
            env["CORRAL_JOB_EXIT_CODE"] = str(report.exit_code)
        result = await run_program(f"epilog {program}", program, env,
                                   self.settings.epilog_timeout_s)
        if not result.ok:
            log.warning("job %d: %s", launch.job_id, result.message)
            report.epilog_failed = True
            report.epilog_message = result.message

    # -- tasks -------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
