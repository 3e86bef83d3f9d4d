"""One run of a job as the agent follows it, and the report made of its end."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from corral.agent.cgroup import JobCgroup
from corral.agent.energy import Counters, joules_between, read_counters
from corral.agent.proctree import JobTree, children_map
from corral.agent.protocol import JobReport, Launch
from corral.agent.runs import Exit
from corral.agent.spawn import format_start_error, read_error_output
from corral.logs import log_ids
from corral.model.states import JobState


@dataclass(eq=False)
class Job:
    launch: Launch
    run_dir: Path
    agent_id: str  # the agent that started the run: its processes carry this marker
    uid: int  # the job's processes run as
    supervisor_pid: int
    supervisor_start: int | None  # None while the supervisor is our own child
    t_start: float
    exited: asyncio.Future[Exit | None]  # None: its exit status was lost
    popen: subprocess.Popen[bytes] | None = None  # the supervisor, when our child
    job_pid: int = 0  # the main process, once the supervisor has said
    tree: JobTree | None = None  # from then on
    cgroup: JobCgroup | None = None
    gate_fd: int = -1  # write end of the gate (closed once the job is in its cgroup)
    started_fd: int = -1  # the supervisor's stdout, until it has given the job's pid
    reason: JobState | None = None  # TIMEOUT | OUT_OF_MEMORY | CANCELLED once decided
    terminator: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    left_s: float | None = None  # time limit left while stopped (suspended)
    pidfd: int | None = None
    error_fd: int = -1
    error_output: bytearray = field(default_factory=bytearray)
    error_open: bool = False
    next_launch: Launch | None = None  # a later run, started once this one has ended
    cpus: tuple[int, ...] = ()  # the CPUs it is bound to (agent/binding; () not bound)
    energy_start: Counters | None = None  # the node's energy counters at the start

    @property
    def job_id(self) -> int:
        return self.launch.job_id

    @property
    def pid(self) -> int:
        return self.job_pid or self.supervisor_pid


def read_early_stderr(job: Job, *, last: bool = False) -> None:
    """Collect the wrapper's early stderr; it closes once the output files are open
    (`last`: the job has ended; a descendant may still hold it: stop waiting)."""
    if not job.error_open:
        return
    data, eof = read_error_output(job.error_fd)
    if len(job.error_output) < 4096:
        job.error_output += data
    if eof or last:
        job.error_open = False
        asyncio.get_running_loop().remove_reader(job.error_fd)
        with contextlib.suppress(OSError):
            os.close(job.error_fd)


KILL_POLL_S = 0.05
KILL_ROUNDS = 20
log = logging.getLogger("corral.agent.launcher")


async def kill_tree(job: Job, sig: int, grace_s: float) -> None:
    """`sig` to the whole tree (and SIGCONT), SIGKILL after `grace_s`."""
    while job.tree is None and not job.exited.done():  # not started yet
        await asyncio.sleep(KILL_POLL_S)
    tree = job.tree
    if tree is None:
        return
    tree.sweep()
    tree.send(sig)
    tree.send(signal.SIGCONT)  # a stopped (suspended) job must wake to handle it
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        await asyncio.sleep(KILL_POLL_S)
        if job.exited.done() and not tree.alive():
            return
        tree.refresh(children_map())
    for _ in range(KILL_ROUNDS):
        tree.sweep()
        if job.cgroup is not None:
            job.cgroup.kill()
        tree.kill_all()
        await asyncio.sleep(KILL_POLL_S)
        if job.exited.done() and not tree.alive():
            return
    log.warning("job %d: processes %s survive SIGKILL", job.job_id, tree.alive(),
                extra=log_ids(job_id=job.job_id))


LEASE_MESSAGE = ("the node lost the controller for longer than its lease; the job "
                 "was killed")


def make_report(job: Job, end: Exit | None, t_end: float) -> JobReport:
    """The report of an ended run (docs/specs/02-agent-protocol.md §3 JobReport)."""
    start_error = format_start_error(bytes(job.error_output))
    report = JobReport(job.job_id, "FAILED", t_start=job.t_start, t_end=t_end,
                       run=job.launch.run)
    if end is None or end.status is None:
        report.message = "the job's exit status was lost"
    elif os.WIFSIGNALED(end.status):
        report.signal = os.WTERMSIG(end.status)
    else:
        report.exit_code = os.WEXITSTATUS(end.status)
    cpu_s = job.tree.detached_cpu_s() if job.tree is not None else 0.0
    rss_mb = job.tree.peak_rss_mb if job.tree is not None else 0.0
    if end is not None:
        cpu_s += end.cpu_s
        report.t_end = end.t_end or t_end
    if job.cgroup is not None:
        rss_mb = max(rss_mb, job.cgroup.peak_mb())
        if job.reason is None and job.cgroup.oom_killed():
            job.reason = JobState.OUT_OF_MEMORY
    report.cpu_time_s = round(cpu_s, 3)
    report.max_rss_mb = round(rss_mb, 1)
    report.energy_j = joules_between(job.energy_start, read_counters())
    if end is not None and end.lease_lapsed:
        report.lost, report.message = True, LEASE_MESSAGE
    elif job.reason is not None:
        report.state = str(job.reason)
        report.cancelled = job.reason == JobState.CANCELLED
    elif start_error:
        report.exit_code, report.signal = 1, None
        report.message = f"cannot start: {start_error}"
    elif report.exit_code == 0:
        report.state = "COMPLETED"
    return report
