"""Running jobs: start, follow, enforce limits, cancel, signal, report, re-adopt.

One asyncio loop owns every job. Each run has a supervisor process
(corral.agent.supervise, forked by the node's shepherd: corral.agent.supervisors)
that is the parent of the job's main process, outlives the agent and writes the
main process's exit status into the run's directory (corral.agent.runs). The
agent follows a supervisor through a pidfd and reads the status once it has
exited; one monitor task samples all process trees every `tick_s` for memory and
CPU. A restarted agent re-adopts the runs of its predecessor from the spool
(`readopt`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from corral.agent import runs
from corral.agent.binding import BindError, BindOptionError, CpuAllocator, place
from corral.agent.cgroup import CgroupManager, JobCgroup
from corral.agent.energy import read_counters
from corral.agent.jobrun import (
    KILL_POLL_S,
    KILL_ROUNDS,
    Job,
    kill_tree,
    make_report,
    read_early_stderr,
)
from corral.agent.proctree import JobTree, children_map, sweep_all
from corral.agent.prolog import JobScripts
from corral.agent.protocol import JobReport, Launch, RunningJob
from corral.agent.readopt import readopt
from corral.agent.spawn import DEFAULT_PATH, StartError, spawn
from corral.agent.supervise import boottime
from corral.agent.supervisors import Shepherd
from corral.logs import log_ids
from corral.model.states import JobState

log = logging.getLogger(__name__)

TICK_S = 0.25
REAP_POLL_S = 0.05  # only without pidfd support

ReportSink = Callable[[JobReport], None]


class Launcher:
    """Starts jobs and calls `on_report` once per job when it has ended."""

    def __init__(self, spool: Path, agent_id: str, on_report: ReportSink, *,
                 tick_s: float = TICK_S, cgroups: CgroupManager | None = None,
                 lease_file: Path | None = None, shepherd: bool = True) -> None:
        self.spool = spool
        self.agent_id = agent_id
        self.on_report = on_report
        self.tick_s = tick_s
        self.cgroups = cgroups
        self.lease_file = lease_file  # None: the runs hold no lease
        self.jobs: dict[int, Job] = {}
        # forks the runs' supervisors (None: each is started by exec)
        self.shepherd = Shepherd({"PATH": DEFAULT_PATH}) if shepherd else None
        self.cpu_alloc: CpuAllocator | None = None  # None: jobs are not bound to CPUs
        self._monitor: asyncio.Task[None] | None = None
        self._pidfd_ok = hasattr(os, "pidfd_open")
        self._background: set[asyncio.Task[None]] = set()
        self.scripts: JobScripts | None = None  # the site's prolog and epilog (agent/prolog)
        # the trees of ended jobs waiting for their last sweep (one /proc scan for all)
        self._to_sweep: list[tuple[JobTree, asyncio.Future[None]]] = []

    # -- public ----------------------------------------------------------------------
    def running(self) -> list[RunningJob]:
        out = []
        for j in self.jobs.values():
            t = j.tree
            out.append(RunningJob(j.job_id, j.pid, t.rss_mb if t else 0.0,
                                  t.peak_rss_mb if t else 0.0, t.cpu_s() if t else 0.0,
                                  run=j.launch.run))
        return out + (self.scripts.running() if self.scripts is not None else [])

    def launch(self, launch: Launch, *, prolog_done: bool = False) -> bool:
        """Start the run now, or after its prolog (returns False if it already runs
        here)."""
        old = self.jobs.get(launch.job_id)
        if old is not None:
            if old.launch.run >= launch.run:
                return False
            log.warning("job %d: run %d still runs here; ending it before run %d starts",
                        launch.job_id, old.launch.run, launch.run,
                        extra=log_ids(job_id=launch.job_id))
            old.next_launch = launch
            self._terminate(old, signal.SIGKILL, 0.0, JobState.CANCELLED)
            return True
        if self.scripts is not None and self.scripts.has_prolog and not prolog_done:
            return self.scripts.begin(launch, self._after_prolog, self.on_report)
        loop = asyncio.get_running_loop()
        self._ensure_monitor()
        t_start = time.time()
        try:
            cpus = place(self.cpu_alloc, launch)
        except (BindError, BindOptionError) as exc:
            self._report_start_failure(launch, t_start, str(exc))
            return True
        energy_start = read_counters()
        bound = self.cpu_alloc.kernel(cpus) if self.cpu_alloc is not None else ()
        cgroup = self._make_cgroup(launch, bound)
        gate_r = gate_w = -1
        if cgroup is not None:  # the job waits at the gate until it is in its cgroup
            gate_r, gate_w = os.pipe()
        try:
            spawned = spawn(launch, self.spool, self.agent_id, t_start=t_start,
                            gate_fd=gate_r if gate_r >= 0 else None,
                            lease_file=self.lease_file,
                            cgroup=cgroup.path if cgroup else None, cpus=cpus,
                            bound=bound, shepherd=self.shepherd)
        except StartError as exc:
            self._release_cpus(launch.job_id)
            self._close(gate_r, gate_w)
            if cgroup is not None:
                cgroup.remove()
            self._report_start_failure(launch, t_start, str(exc))
            return True
        self._close(gate_r)
        job = Job(launch, spawned.run_dir, self.agent_id, spawned.uid, spawned.pid,
                  None if spawned.popen is not None else spawned.start, t_start,
                  loop.create_future(), popen=spawned.popen, cgroup=cgroup,
                  gate_fd=gate_w, started_fd=spawned.started_fd,
                  error_fd=spawned.error_fd, error_open=True, cpus=cpus,
                  energy_start=energy_start)
        self.jobs[launch.job_id] = job
        loop.add_reader(job.started_fd, self._on_started, job)
        loop.add_reader(job.error_fd, read_early_stderr, job)
        self._watch_exit(job)
        self._start_clock(job, launch.time_limit_s)
        self._spawn_task(self._supervise(job))
        return True

    def _after_prolog(self, launch: Launch) -> None:
        self.launch(launch, prolog_done=True)

    def cancel(self, job_id: int, sig: int = signal.SIGTERM, grace_s: float = 5.0,
               run: int | None = None) -> bool:
        job = self.jobs.get(job_id)
        if job is None:
            return self.scripts is not None and self.scripts.cancel(job_id)
        if run is not None and job.launch.run != run:
            return False
        self._terminate(job, sig, grace_s, JobState.CANCELLED)
        return True

    def signal(self, job_id: int, sig: int, *, main_only: bool = False) -> bool:
        """The batch script's process group (or, main_only, its own process)."""
        job = self.jobs.get(job_id)
        if job is None or job.exited.done() or job.tree is None or job.tree.root_reaped:
            return False
        with contextlib.suppress(OSError):
            if main_only:
                os.kill(job.job_pid, sig)
            else:
                os.killpg(job.job_pid, sig)
        if sig == signal.SIGSTOP:
            self._pause_clock(job)
        elif sig == signal.SIGCONT:
            self._resume_clock(job)
        return True

    def discard(self, job_id: int, run: int) -> None:
        """The controller has this run's report: forget the run (and earlier ones)."""
        job = self.jobs.get(job_id)
        for rec in runs.scan_job(self.spool, job_id):
            if rec.run <= run and (job is None or rec.run != job.launch.run):
                runs.remove(rec.path)

    async def close(self) -> None:
        """Stop watching (jobs keep running, each with its supervisor)."""
        for task in list(self._background):
            task.cancel()
        if self._monitor is not None:
            self._monitor.cancel()
        loop = asyncio.get_running_loop()
        for job in self.jobs.values():
            for fd in (job.error_fd, job.started_fd, job.pidfd):
                if fd is not None and fd >= 0:
                    loop.remove_reader(fd)
                    self._close(fd)
            job.error_fd = job.started_fd = -1
            job.pidfd = None
            if job.popen is not None:  # it outlives us: Popen must never wait for it
                job.popen.returncode = 0
        if self.shepherd is not None:  # it exits; the supervisors it forked go on
            self.shepherd.close()
        await asyncio.gather(*self._background, return_exceptions=True)

    def adopt(self, job_id: int, pid: int) -> bool:
        """A step task of a job whose batch script runs here: measured and killed with
        the job. False: the job's batch script is not here."""
        job = self.jobs.get(job_id)
        if job is None or job.tree is None:
            return False
        job.tree.adopt(pid)
        return True

    # -- re-adoption -------------------------------------------------------------------
    def readopt(self) -> list[JobReport]:
        """Take over the runs a previous agent left in the spool (corral.agent.readopt);
        returns the reports it had not had acknowledged."""
        return readopt(self)

    def follow(self, job: Job, end: runs.Exit | None) -> None:
        """Follow a run started by a previous agent (`end`: it has ended meanwhile)."""
        self._ensure_monitor()
        self.jobs[job.job_id] = job
        if self.cpu_alloc is not None and job.cpus:  # it keeps its CPUs
            self.cpu_alloc.hold(job.job_id, job.cpus)
        if end is not None:
            job.exited.set_result(end)
        else:
            self._watch_exit(job)
            limit_s = job.launch.time_limit_s
            left_s = max(0.0, limit_s - (time.time() - job.t_start))
            if limit_s > 0 and runs.stopped(job.job_pid):
                job.left_s = left_s  # suspended: its clock stands still
            elif limit_s > 0:
                self._start_clock(job, left_s)
        log.info("job %d: run %d re-adopted (pid %d, %s)", job.job_id, job.launch.run,
                 job.job_pid, "running" if end is None else "ended meanwhile",
                 extra=log_ids(job_id=job.job_id))
        self._spawn_task(self._supervise(job))

    # -- start -----------------------------------------------------------------------
    def _release_cpus(self, job_id: int) -> None:
        if self.cpu_alloc is not None:
            self.cpu_alloc.release(job_id)

    def _make_cgroup(self, launch: Launch, cpus: tuple[int, ...]) -> JobCgroup | None:
        if self.cgroups is None:
            return None
        try:
            return self.cgroups.create(launch.job_id, launch.mem_mb, cpus)
        except OSError as exc:
            log.warning("job %d: no cgroup (%s); using RSS monitoring", launch.job_id, exc,
                        extra=log_ids(job_id=launch.job_id))
            return None

    def _on_started(self, job: Job) -> None:
        """The supervisor names the job's main process: follow it, open the gate."""
        if job.started_fd < 0:
            return
        try:
            data = os.read(job.started_fd, 256)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        asyncio.get_running_loop().remove_reader(job.started_fd)
        self._close(job.started_fd)
        job.started_fd = -1
        try:
            pid, start = (int(x) for x in data.split()[:2])
        except ValueError:  # the supervisor could not start the job; its end says why
            self._close(job.gate_fd)
            return
        job.job_pid = pid
        job.tree = JobTree(pid, uid=job.uid, job_id=job.job_id, agent_id=job.agent_id,
                           root_start=start)
        if job.cgroup is not None:
            try:
                job.cgroup.add(pid)
            except OSError as exc:
                log.warning("job %d: cannot join its cgroup (%s); using RSS monitoring",
                            job.job_id, exc, extra=log_ids(job_id=job.job_id))
                job.cgroup.remove()
                job.cgroup = None
        self._close(job.gate_fd)  # EOF opens the gate
        job.gate_fd = -1
        log.info("job %d started: pid %d", job.job_id, pid, extra=log_ids(job_id=job.job_id))

    def _report_start_failure(self, launch: Launch, t_start: float, message: str) -> None:
        log.warning("job %d could not start: %s", launch.job_id, message,
                    extra=log_ids(job_id=launch.job_id))
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

    # -- the supervisor's end ----------------------------------------------------------
    def _watch_exit(self, job: Job) -> None:
        if self._pidfd_ok:
            try:
                job.pidfd = os.pidfd_open(job.supervisor_pid)
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
        if job.popen is not None:
            if job.popen.poll() is None:
                return False
        elif job.supervisor_start is not None and runs.alive(job.supervisor_pid,
                                                              job.supervisor_start):
            return False
        else:  # a predecessor's: reaped by init, unless that predecessor was this process
            with contextlib.suppress(ChildProcessError):
                os.waitpid(job.supervisor_pid, os.WNOHANG)
        if job.pidfd is not None:
            asyncio.get_running_loop().remove_reader(job.pidfd)
            os.close(job.pidfd)
            job.pidfd = None
        self._on_started(job)  # a pid line still in the pipe
        if job.tree is not None:
            job.tree.root_reaped = True
        job.exited.set_result(runs.read_exit(job.run_dir))
        return True

    async def _poll_exit(self, job: Job) -> None:
        while not self._reap(job):
            await asyncio.sleep(REAP_POLL_S)

    # -- enforcement -----------------------------------------------------------------
    def _start_clock(self, job: Job, limit_s: float) -> None:
        if job.launch.time_limit_s > 0:
            job.timer = asyncio.get_running_loop().call_later(
                limit_s, self._terminate, job, job.launch.term_signal, job.launch.kill_grace_s,
                JobState.TIMEOUT)

    def _pause_clock(self, job: Job) -> None:
        """A suspended job's time limit does not run while it is stopped."""
        if job.timer is not None and job.left_s is None:
            job.left_s = max(0.0, job.timer.when() - asyncio.get_running_loop().time())
            job.timer.cancel()

    def _resume_clock(self, job: Job) -> None:
        if job.left_s is not None:
            self._start_clock(job, job.left_s)
            job.left_s = None

    def _ensure_monitor(self) -> None:
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.get_running_loop().create_task(self._monitor_loop())

    async def _monitor_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            live = [j for j in self.jobs.values() if not j.exited.done() and j.tree]
            if not live:
                continue
            try:
                kids = children_map()
                for job in live:
                    assert job.tree is not None
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
                     job.job_id, rss_mb, limit, extra=log_ids(job_id=job.job_id))
            self._terminate(job, signal.SIGKILL, 0.0, JobState.OUT_OF_MEMORY)

    def _terminate(self, job: Job, sig: int, grace_s: float, reason: JobState) -> None:
        if job.reason is None and not job.exited.done():
            job.reason = reason
        if job.terminator is None and not job.exited.done():
            if grace_s > 0:  # the supervisor lets the job's other processes have it too
                with contextlib.suppress(OSError):
                    runs.write_kill_deadline(job.run_dir, boottime() + grace_s)
            job.terminator = self._spawn_task(kill_tree(job, sig, grace_s))

    # -- the end ---------------------------------------------------------------------
    async def _supervise(self, job: Job) -> None:
        end = await job.exited
        t_end = time.time()
        try:
            report = await self._finish(job, end, t_end)
        except Exception as exc:  # the controller must hear of the job in any case
            log.error("job %d: %s: %s", job.job_id, type(exc).__name__, exc,
                      extra=log_ids(job_id=job.job_id))
            report = JobReport(job.job_id, "FAILED", t_start=job.t_start, t_end=t_end,
                               message=f"agent error while ending the job: {exc}",
                               run=job.launch.run)
        if self.scripts is not None:  # the job holds its place here until it is done
            await self.scripts.epilog(job.launch, report)
        with contextlib.suppress(OSError):  # kept until the controller has it
            runs.write_json(job.run_dir / "report.json", report.to_dict())
        if self.jobs.get(job.job_id) is job:
            del self.jobs[job.job_id]
            self._release_cpus(job.job_id)
        log.info("job %d ended: %s%s", job.job_id, report.state,
                 f" ({report.message})" if report.message else "", extra=log_ids(job_id=job.job_id))
        self.on_report(report)
        if job.next_launch is not None:
            self.launch(job.next_launch)

    def _swept(self, tree: JobTree) -> asyncio.Future[None]:
        """The tree's sweep (JobTree.sweep), done together with those of every other
        job that ends in the same turn of the loop: a burst of ends costs one scan."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not self._to_sweep:
            loop.call_soon(self._sweep_now)
        self._to_sweep.append((tree, done))
        return done

    def _sweep_now(self) -> None:
        batch, self._to_sweep = self._to_sweep, []
        try:
            sweep_all([tree for tree, _ in batch])
        except Exception as exc:  # each job's end reports it (_supervise)
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def _finish(self, job: Job, end: runs.Exit | None, t_end: float) -> JobReport:
        if job.timer is not None:
            job.timer.cancel()
        if job.terminator is not None:
            await asyncio.shield(job.terminator)
        elif job.tree is not None:
            # what the job left behind dies before its end is reported: a process
            # forked between a sweep and the kill, or slow to die, is killed again
            await self._swept(job.tree)
            for _ in range(KILL_ROUNDS):
                if not job.tree.alive():
                    break
                job.tree.kill_all()
                if job.cgroup is not None:
                    job.cgroup.kill()
                await asyncio.sleep(KILL_POLL_S)
                await self._swept(job.tree)
        read_early_stderr(job, last=True)
        report = make_report(job, end, t_end)
        if job.cgroup is not None:
            job.cgroup.remove()
        return report
