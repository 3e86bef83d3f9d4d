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
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from corral.agent.protocol import JobFacts, JobReport, Launch, RunningJob
from corral.agent.siteprog import (
    ProgramResult,
    base_environment,
    program_of,
    run_program,
    seconds_of,
)
from corral.logs import log_ids

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
# of the job's environment, what its prolog and epilog see too
PASSED_ON = ("SLURM_JOB_PARTITION", "SLURM_JOB_ACCOUNT", "SLURM_ARRAY_JOB_ID",
             "SLURM_ARRAY_TASK_ID")
SEND_TRIES = 5  # a failure on a job's other node: attempts to tell the controller
SEND_BACKOFF_S = 1.0


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


def script_environment(node: str, job: JobFacts, context: str) -> dict[str, str]:
    """What a prolog or epilog sees of its job (Slurm's names and corral's)."""
    env = base_environment(node)
    nodes = ",".join(job.node_list)
    for prefix in ("SLURM", "CORRAL"):
        env.update({f"{prefix}_JOB_ID": str(job.job_id),
                    f"{prefix}_JOB_NAME": job.name,
                    f"{prefix}_JOB_USER": job.user,
                    f"{prefix}_JOB_UID": str(job.uid),
                    f"{prefix}_JOB_GID": str(job.gid),
                    f"{prefix}_JOB_NODELIST": nodes,
                    f"{prefix}_RESTART_COUNT": str(job.run),
                    f"{prefix}_SCRIPT_CONTEXT": context})
    env["CORRAL_SUBMIT_DIR"] = job.working_dir
    for key in PASSED_ON:
        if key in job.environment:
            env[key] = job.environment[key]
    return env


Start = Callable[[Launch], object]
ReportSink = Callable[[JobReport], None]
# (kind "prolog" | "epilog", the job, message): a failure on one of the job's other nodes
SendFailure = Callable[[str, JobFacts, str], Awaitable[None]]


class JobScripts:
    """Runs the prolog before a job starts and the epilog after it ends."""

    def __init__(self, node: str, send_failure: SendFailure | None = None) -> None:
        self.node = node
        self.send_failure = send_failure
        self.settings = ScriptSettings()
        self.starting: dict[int, _Starting] = {}
        # on a job's other nodes: its prolog's verdict here (pending while it runs)
        self.gates: dict[int, asyncio.Future[bool]] = {}
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
        return [RunningJob(job_id, 0, run=s.launch.run) for job_id, s in self.starting.items()]

    async def _prolog(self, launch: Launch, start: Start, on_report: ReportSink) -> None:
        t_start = time.time()
        program = self.settings.prolog
        result = (ProgramResult(True, 0, "", "no prolog") if program is None else
                  await run_program(f"prolog {program}",  program,
                                    script_environment(self.node, JobFacts.of_launch(launch),
                                                     "prolog_slurmd"),
                                    self.settings.prolog_timeout_s))
        starting = self.starting.pop(launch.job_id, None)
        report = JobReport(launch.job_id, "FAILED", exit_code=1, t_start=t_start,
                           t_end=time.time(), run=launch.run)
        if not result.ok:
            log.warning("job %d: %s; not started", launch.job_id, result.message,
                        extra=log_ids(job_id=launch.job_id))
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
        env = script_environment(self.node, JobFacts.of_launch(launch), "epilog_slurmd")
        env["CORRAL_JOB_STATE"] = report.state
        if report.exit_code is not None:
            env["CORRAL_JOB_EXIT_CODE"] = str(report.exit_code)
        result = await run_program(f"epilog {program}", program, env,
                                   self.settings.epilog_timeout_s)
        if not result.ok:
            log.warning("job %d: %s", launch.job_id, result.message,
                        extra=log_ids(job_id=launch.job_id))
            report.epilog_failed = True
            report.epilog_message = result.message

    # -- on the job's other nodes ------------------------------------------------------
    def prolog_here(self, job: JobFacts) -> None:
        """A `prolog` order: this node is one of the job's, not its batch node."""
        if self.settings.prolog is None or job.job_id in self.gates:
            return
        self.gates[job.job_id] = asyncio.get_running_loop().create_future()
        self._spawn(self._prolog_here(job, self.settings.prolog))

    async def _prolog_here(self, job: JobFacts, program: str) -> None:
        result = await run_program(f"prolog {program}", program,
                                   script_environment(self.node, job, "prolog_slurmd"),
                                   self.settings.prolog_timeout_s)
        gate = self.gates.get(job.job_id)
        if gate is not None and not gate.done():
            gate.set_result(result.ok)
        if not result.ok:
            log.warning("job %d: %s", job.job_id, result.message, extra=log_ids(job_id=job.job_id))
            await self._send("prolog", job, result.message)

    def after_prolog(self, job_id: int, then: Callable[[], object]) -> None:
        """Call `then` once the job's prolog here has passed: now if none runs, never
        if it failed (the controller requeues the job)."""
        gate = self.gates.get(job_id)
        if gate is None:
            then()
        elif gate.done():
            if gate.result():
                then()
        else:
            gate.add_done_callback(lambda g: then() if g.result() else None)

    def epilog_here(self, job: JobFacts) -> None:
        """An `epilog` order: the job has left this node (not its batch node)."""
        self.gates.pop(job.job_id, None)
        if self.settings.epilog is not None:
            self._spawn(self._epilog_here(job, self.settings.epilog))

    def forget(self, job_id: int) -> None:
        self.gates.pop(job_id, None)

    async def _epilog_here(self, job: JobFacts, program: str) -> None:
        result = await run_program(f"epilog {program}", program,
                                   script_environment(self.node, job, "epilog_slurmd"),
                                   self.settings.epilog_timeout_s)
        if not result.ok:
            log.warning("job %d: %s", job.job_id, result.message, extra=log_ids(job_id=job.job_id))
            await self._send("epilog", job, result.message)

    async def _send(self, kind: str, job: JobFacts, message: str) -> None:
        if self.send_failure is None:
            return
        for attempt in range(SEND_TRIES):
            try:
                await self.send_failure(kind, job, message)
                return
            except Exception as exc:
                log.warning("job %d: %s failure not delivered (%s)", job.job_id, kind, exc,
                            extra=log_ids(job_id=job.job_id))
                await asyncio.sleep(SEND_BACKOFF_S * 2 ** attempt)

    # -- tasks -------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
