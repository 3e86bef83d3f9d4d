"""Running jobs: start, reap, enforce limits, cancel, signal and report.

One asyncio loop owns every job. The main process of each job is reaped through a
pidfd (`os.wait4`, so its rusage is ours and no other waiter can steal it); one
monitor task samples all process trees every `tick_s` for memory and CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import shutil
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.agent.cgroup import CgroupManager, JobCgroup
from corral.agent.proctree import JobTree, children_map
from corral.agent.prolog import JobScripts
from corral.agent.protocol import JobReport, Launch, RunningJob
from corral.agent.spawn import (
    Spawned,
    StartError,
    format_start_error,
    read_error_output,
    spawn,
)

log = logging.getLogger(__name__)

TICK_S = 0.25
KILL_POLL_S = 0.05
KILL_ROUNDS = 20
REAP_POLL_S = 0.05  # only without pidfd support


@dataclass(eq=False)
class Job:
    launch: Launch
    spawned: Spawned
    tree: JobTree
    t_start: float
    exited: asyncio.Future[tuple[int, resource.struct_rusage | None]]
    cgroup: JobCgroup | None = None
    reason: str | None = None  # TIMEOUT | OUT_OF_MEMORY | CANCELLED once decided
    terminator: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None
    left_s: float | None = None  # time limit left while stopped (suspended)
    pidfd: int | None = None
    error_output: bytearray = field(default_factory=bytearray)
    error_open: bool = True

    @property
    def job_id(self) -> int:
        return self.launch.job_id

    @property
    def pid(self) -> int:
        return self.spawned.popen.pid


ReportSink = Callable[[JobReport], None]


class Launcher:
    """Starts jobs and calls `on_report` once per job when it has ended."""

    def __init__(self, spool: Path, agent_id: str, on_report: ReportSink, *,
                 tick_s: float = TICK_S, cgroups: CgroupManager | None = None) -> None:
        self.spool = spool
        self.agent_id = agent_id
        self.on_report = on_report
        self.tick_s = tick_s
        self.cgroups = cgroups
        self.jobs: dict[int, Job] = {}
        self._monitor: asyncio.Task[None] | None = None
        self._pidfd_ok = hasattr(os, "pidfd_open")
        self._background: set[asyncio.Task[None]] = set()
        self.scripts: JobScripts | None = None  # the site's prolog and epilog (agent/prolog)

    # -- public ----------------------------------------------------------------------
    def running(self) -> list[RunningJob]:
        return [RunningJob(j.job_id, j.pid, j.tree.rss_mb, j.tree.peak_rss_mb,
                           j.tree.cpu_s()) for j in self.jobs.values()] + (
            self.scripts.running() if self.scripts is not None else [])

    def launch(self, launch: Launch, *, prolog_done: bool = False) -> bool:
        """Start the job now, or after its prolog (returns False if it already runs
        here)."""
        if launch.job_id in self.jobs:
            return False
        if self.scripts is not None and self.scripts.has_prolog and not prolog_done:
            return self.scripts.begin(launch, self._after_prolog, self.on_report)
        loop = asyncio.get_running_loop()
        self._ensure_monitor()
        t_start = time.time()
        cgroup = self._make_cgroup(launch)
        gate_r = gate_w = -1
        if cgroup is not None:  # the job waits at the gate until it is in its cgroup
            gate_r, gate_w = os.pipe()
        try:
            spawned = spawn(launch, self.spool, self.agent_id,
                            gate_fd=gate_r if gate_r >= 0 else None)
        except StartError as exc:
            self._close(gate_r, gate_w)
            if cgroup is not None:
                cgroup.remove()
            self._report_start_failure(launch, t_start, str(exc))
            return True
        if cgroup is not None:
            try:
                cgroup.add(spawned.popen.pid)
            except OSError as exc:
                log.warning("job %d: cannot join its cgroup (%s); using RSS monitoring",
                            launch.job_id, exc)
                cgroup.remove()
                cgroup = None
            self._close(gate_r, gate_w)  # EOF opens the gate
        job = Job(launch, spawned, JobTree(spawned.popen.pid, uid=spawned.uid,
                                           job_id=launch.job_id, agent_id=self.agent_id),
                  t_start, loop.create_future(), cgroup=cgroup)
        self.jobs[launch.job_id] = job
        loop.add_reader(spawned.error_fd, self._read_error_output, job)
        self._watch_exit(job)
        if launch.time_limit_s > 0:
            job.timer = loop.call_later(launch.time_limit_s, self._terminate, job,
                                        launch.term_signal, launch.kill_grace_s, "TIMEOUT")
        self._spawn_task(self._supervise(job))
        log.info("job %d started: pid %d", launch.job_id, job.pid)
        return True

    def _after_prolog(self, launch: Launch) -> None:
        self.launch(launch, prolog_done=True)

    def cancel(self, job_id: int, sig: int = signal.SIGTERM, grace_s: float = 5.0) -> bool:
        job = self.jobs.get(job_id)
        if job is None:
            return self.scripts is not None and self.scripts.cancel(job_id)
        self._terminate(job, sig, grace_s, "CANCELLED")
        return True

    def signal(self, job_id: int, sig: int, *, main_only: bool = False) -> bool:
        """The batch script's process group (or, main_only, its own process)."""
        job = self.jobs.get(job_id)
        if job is None or job.exited.done():
            return False
        with contextlib.suppress(OSError):
            if main_only:
                os.kill(job.pid, sig)
            else:
                os.killpg(job.pid, sig)
        if sig == signal.SIGSTOP:
            self._pause_clock(job)
        elif sig == signal.SIGCONT:
            self._resume_clock(job)
        return True

    def _pause_clock(self, job: Job) -> None:
        """A suspended job's time limit does not run while it is stopped."""
        if job.timer is not None and job.left_s is None:
            job.left_s = max(0.0, job.timer.when() - asyncio.get_running_loop().time())
            job.timer.cancel()

    def _resume_clock(self, job: Job) -> None:
        if job.left_s is not None:
            job.timer = asyncio.get_running_loop().call_later(
                job.left_s, self._terminate, job, job.launch.term_signal,
                job.launch.kill_grace_s, "TIMEOUT")
            job.left_s = None

    async def close(self) -> None:
        """Stop watching (jobs keep running in their own sessions)."""
        for task in list(self._background):
            task.cancel()
        if self._monitor is not None:
            self._monitor.cancel()
        loop = asyncio.get_running_loop()
        for job in self.jobs.values():
            if job.error_open:
                job.error_open = False
                loop.remove_reader(job.spawned.error_fd)
                self._close(job.spawned.error_fd)
            if job.pidfd is not None:
                loop.remove_reader(job.pidfd)
                os.close(job.pidfd)
                job.pidfd = None
            # The job outlives us: stop Popen from ever waiting for it.
            job.spawned.popen.returncode = 0
        await asyncio.gather(*self._background, return_exceptions=True)

    def adopt(self, job_id: int, pid: int) -> bool:
        """A step task of a job whose batch script runs here: measured and killed with
        the job. False: the job's batch script is not here."""
        job = self.jobs.get(job_id)
        if job is None:
            return False
        job.tree.adopt(pid)
        return True

    # -- start -----------------------------------------------------------------------
    def _make_cgroup(self, launch: Launch) -> JobCgroup | None:
        if self.cgroups is None:
            return None
        try:
            return self.cgroups.create(launch.job_id, launch.mem_mb)
        except OSError as exc:
            log.warning("job %d: no cgroup (%s); using RSS monitoring", launch.job_id, exc)
            return None

    def _report_start_failure(self, launch: Launch, t_start: float, message: str) -> None:
        log.warning("job %d could not start: %s", launch.job_id, message)
        report = JobReport(launch.job_id, "FAILED", exit_code=1, t_start=t_start,
                           t_end=time.time(), message=message, run=launch.run)
        self.on_report(report)  # now: the next poll must show it (as a held report)

    @staticmethod
    def _close(*fds: int) -> None:
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _read_error_output(self, job: Job) -> None:
        """Collect the wrapper's early stderr; it closes once the output files are open."""
        if not job.error_open:
            return
        data, eof = read_error_output(job.spawned.error_fd)
        if len(job.error_output) < 4096:
            job.error_output += data
        if eof:
            job.error_open = False
            asyncio.get_running_loop().remove_reader(job.spawned.error_fd)
            self._close(job.spawned.error_fd)

    # -- reaping ---------------------------------------------------------------------
    def _watch_exit(self, job: Job) -> None:
        if self._pidfd_ok:
            try:
                job.pidfd = os.pidfd_open(job.pid)
            except OSError:
                self._pidfd_ok = False
        if job.pidfd is not None:
            asyncio.get_running_loop().add_reader(job.pidfd, self._reap, job)
            self._reap(job)  # it may already be gone
        else:
            self._spawn_task(self._poll_exit(job))

    def _reap(self, job: Job) -> bool:
        if job.exited.done():
            return True
        try:
            pid, status, rusage = os.wait4(job.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status, rusage = job.pid, 0, None
        if pid == 0:
            return False
        if job.pidfd is not None:
            asyncio.get_running_loop().remove_reader(job.pidfd)
            os.close(job.pidfd)
            job.pidfd = None
        job.spawned.popen.returncode = os.waitstatus_to_exitcode(status) if rusage else 0
        job.tree.root_reaped = True
        job.exited.set_result((status, rusage))
        return True

    async def _poll_exit(self, job: Job) -> None:
        while not self._reap(job):
            await asyncio.sleep(REAP_POLL_S)

    # -- enforcement -----------------------------------------------------------------
    def _ensure_monitor(self) -> None:
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.get_running_loop().create_task(self._monitor_loop())

    async def _monitor_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            live = [j for j in self.jobs.values() if not j.exited.done()]
            if not live:
                continue
            try:
                kids = children_map()
                for job in live:
                    job.tree.refresh(kids)
                    rss_mb = job.tree.sample()
                    self._check_memory(job, rss_mb)
            except Exception as exc:  # never let one bad sample stop enforcement
                log.error("monitor: %s: %s", type(exc).__name__, exc)

    def _check_memory(self, job: Job, rss_mb: float) -> None:
        limit = job.launch.mem_mb
        if limit is None or job.reason is not None:
            return
        oom = job.cgroup.oom_killed() if job.cgroup is not None else False
        if oom or rss_mb > limit:
            log.info("job %d: %.0f MiB exceeds its %d MiB limit; killing it",
                     job.job_id, rss_mb, limit)
            self._terminate(job, signal.SIGKILL, 0.0, "OUT_OF_MEMORY")

    def _terminate(self, job: Job, sig: int, grace_s: float, reason: str) -> None:
        if job.reason is None and not job.exited.done():
            job.reason = reason
        if job.terminator is None and not job.exited.done():
            job.terminator = self._spawn_task(self._kill_tree(job, sig, grace_s))

    async def _kill_tree(self, job: Job, sig: int, grace_s: float) -> None:
        tree = job.tree
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
        log.warning("job %d: processes %s survive SIGKILL", job.job_id, tree.alive())

    # -- the end ---------------------------------------------------------------------
    async def _supervise(self, job: Job) -> None:
        status, rusage = await job.exited
        t_end = time.time()
        try:
            report = await self._finish(job, status, rusage, t_end)
        except Exception as exc:  # the controller must hear of the job in any case
            log.error("job %d: %s: %s", job.job_id, type(exc).__name__, exc)
            report = JobReport(job.job_id, "FAILED", t_start=job.t_start, t_end=t_end,
                               message=f"agent error while ending the job: {exc}")
        report.run = job.launch.run
        if self.scripts is not None:  # the job holds its place here until it is done
            await self.scripts.epilog(job.launch, report)
        self.jobs.pop(job.job_id, None)
        log.info("job %d ended: %s%s", job.job_id, report.state,
                 f" ({report.message})" if report.message else "")
        self.on_report(report)

    async def _finish(self, job: Job, status: int, rusage: resource.struct_rusage | None,
                      t_end: float) -> JobReport:
        if job.timer is not None:
            job.timer.cancel()
        if job.terminator is not None:
            await asyncio.shield(job.terminator)
        else:
            job.tree.sweep()
            if job.tree.alive():
                job.tree.kill_all()
                if job.cgroup is not None:
                    job.cgroup.kill()
        report = self._report(job, status, rusage, t_end)
        shutil.rmtree(job.spawned.job_dir, ignore_errors=True)
        if job.cgroup is not None:
            job.cgroup.remove()
        return report

    def _report(self, job: Job, status: int, rusage: resource.struct_rusage | None,
                t_end: float) -> JobReport:
        self._read_error_output(job)
        if job.error_open:  # a descendant still holds it: no more waiting for EOF
            job.error_open = False
            asyncio.get_running_loop().remove_reader(job.spawned.error_fd)
            self._close(job.spawned.error_fd)
        start_error = format_start_error(bytes(job.error_output))
        report = JobReport(job.job_id, "FAILED", t_start=job.t_start, t_end=t_end)
        if rusage is None:
            report.message = "the job's exit status was lost"
        elif os.WIFSIGNALED(status):
            report.signal = os.WTERMSIG(status)
        else:
            report.exit_code = os.WEXITSTATUS(status)
        cpu_s = job.tree.detached_cpu_s()
        rss_mb = job.tree.peak_rss_mb
        if rusage is not None:  # ru_maxrss is useless here: it holds the agent's own
            cpu_s += rusage.ru_utime + rusage.ru_stime  # pre-exec high-water mark
        if job.cgroup is not None:
            rss_mb = max(rss_mb, job.cgroup.peak_mb())
            if job.reason is None and job.cgroup.oom_killed():
                job.reason = "OUT_OF_MEMORY"
        report.cpu_time_s = round(cpu_s, 3)
        report.max_rss_mb = round(rss_mb, 1)
        if job.reason is not None:
            report.state = job.reason
            report.cancelled = job.reason == "CANCELLED"
        elif start_error:
            report.exit_code, report.signal = 1, None
            report.message = f"cannot start: {start_error}"
        elif report.exit_code == 0:
            report.state = "COMPLETED"
        return report
