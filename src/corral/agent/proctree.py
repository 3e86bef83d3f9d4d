"""Following, measuring and killing the whole process tree of one job (Linux /proc).

A job's processes are found three ways, so that daemons and `setsid` escapees are
not forgotten:
- descendants by parent links, sampled every tick (a process seen once stays tracked
  after its parent dies and it is re-parented to init);
- the job's session and process group (the main process leads both);
- a sweep of /proc for processes carrying the job's marker environment
  (`CORRAL_JOB_ID` and `CORRAL_AGENT_ID`), done when the job is killed or ends.
A process that clears its environment, leaves the session and starts and orphans
itself between two samples escapes; cgroup v2 (corral.agent.cgroup) closes that gap.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import defaultdict
from collections.abc import Iterable

import psutil

from corral.agent.supervise import read_proc

MIB = 1024 * 1024


Stat = tuple[int, int, int, int]  # ppid, pgrp, session, start time (clock ticks)


def _stat(pid: int) -> Stat:
    """(ppid, pgrp, session, start time) of a process, from /proc/<pid>/stat."""
    data = read_proc(pid, "stat")
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[1]), int(fields[2]), int(fields[3]), int(fields[19])


def _proc_pids() -> Iterable[int]:
    with os.scandir("/proc") as it:
        for entry in it:
            if entry.name.isdigit():
                yield int(entry.name)


def process_table() -> dict[int, Stat]:
    """pid -> (ppid, pgrp, session, start time) for every process (one /proc scan)."""
    out = {}
    for pid in _proc_pids():
        try:
            out[pid] = _stat(pid)
        except (OSError, ValueError, IndexError):
            continue
    return out


def children_map(table: dict[int, Stat] | None = None) -> dict[int, list[int]]:
    """ppid -> child pids for the whole process table (one scan shared by all jobs)."""
    out: dict[int, list[int]] = defaultdict(list)
    for pid, stat in (table if table is not None else process_table()).items():
        out[stat[0]].append(pid)
    return out


class JobTree:
    """The processes of one job, led by `root_pid` (session and group leader)."""

    def __init__(self, root_pid: int, *, uid: int, job_id: int, agent_id: str,
                 root_alive: bool = True, root_start: int = 0) -> None:
        """`root_alive` False: the main process has ended (its pid may be another's
        now); the job's other processes are then found by their markers only.
        `root_start`: the main process's start time (clock ticks after boot; 0:
        unknown); a process started before it cannot be the job's, so a sweep
        does not read its environment."""
        self.root_pid = root_pid
        self.root_start = root_start
        self.uid = uid
        self.marker = (str(job_id).encode(), agent_id.encode())  # its environment's
        self.members: dict[int, psutil.Process] = {}
        self._ppid: dict[int, int] = {}
        self._cpu_s: dict[int, float] = {}
        self.peak_rss_mb = 0.0
        self.rss_mb = 0.0  # at the last sample
        self.root_reaped = not root_alive  # then its pid may be reused: no more killpg
        self._by_session = root_alive
        if root_alive:
            with contextlib.suppress(psutil.Error):
                self.members[root_pid] = psutil.Process(root_pid)

    # -- discovery -------------------------------------------------------------------
    def _add(self, pid: int, ppid: int | None = None) -> None:
        if pid in self.members or pid == os.getpid():
            return
        try:
            self.members[pid] = psutil.Process(pid)
        except psutil.Error:
            return
        if ppid is not None:
            self._ppid[pid] = ppid

    def adopt(self, pid: int) -> None:
        """Track a process started outside the tree (a step task of this job)."""
        self._add(pid)

    def refresh(self, kids: dict[int, list[int]]) -> None:
        """Add every descendant of a tracked process (breadth first)."""
        todo = list(self.members)
        while todo:
            pid = todo.pop()
            for child in kids.get(pid, ()):
                self._ppid[child] = pid
                if child not in self.members:
                    self._add(child, pid)
                    todo.append(child)

    def sweep(self) -> None:
        """Find members by session, process group or marker environment (full scan)."""
        sweep_all([self])

    # -- measuring -------------------------------------------------------------------
    def sample(self) -> float:
        """Sum of RSS (MiB) over live members; records CPU time and the peak."""
        rss = 0
        for pid, proc in list(self.members.items()):
            try:
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue
                    rss += proc.memory_info().rss
                    t = proc.cpu_times()
                    self._cpu_s[pid] = t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
        rss_mb = rss / MIB
        self.rss_mb = rss_mb
        self.peak_rss_mb = max(self.peak_rss_mb, rss_mb)
        return rss_mb

    def cpu_s(self) -> float:
        """CPU time of the members as last sampled (their reaped children included)."""
        return sum(self._cpu_s.values())

    def detached_cpu_s(self) -> float:
        """CPU time of members their tracked parents cannot have reaped (orphans).

        The main process's own rusage (wait4) already holds every descendant that
        was waited for inside the tree; orphans re-parented outside it are added here.
        """
        total = 0.0
        for pid, cpu_s in self._cpu_s.items():
            if pid == self.root_pid:
                continue
            if self._ppid.get(pid) not in self.members:
                total += cpu_s
        return total

    # -- killing ---------------------------------------------------------------------
    def alive(self) -> list[int]:
        """Members still running (zombies do not count), the root excluded if reaped."""
        out = []
        for pid, proc in list(self.members.items()):
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(pid)
            except psutil.Error:
                continue
        return out

    def send(self, sig: int) -> None:
        """Signal the process group and every tracked member."""
        if not self.root_reaped:
            with contextlib.suppress(OSError):
                os.killpg(self.root_pid, sig)
        for proc in list(self.members.values()):
            with contextlib.suppress(psutil.Error, OSError):
                proc.send_signal(sig)

    def kill_all(self) -> None:
        self.send(signal.SIGKILL)


_JOB_MARK = b"CORRAL_JOB_ID="
_AGENT_MARK = b"CORRAL_AGENT_ID="


def _markers(environ: bytes) -> set[tuple[bytes, bytes]]:
    """The (job id, agent id) pairs a process's environment carries (whole entries,
    each ended by its NUL)."""
    jobs: list[bytes] = []
    agents: list[bytes] = []
    for entry in environ.split(b"\0")[:-1]:
        if entry.startswith(_JOB_MARK):
            jobs.append(entry[len(_JOB_MARK):])
        elif entry.startswith(_AGENT_MARK):
            agents.append(entry[len(_AGENT_MARK):])
    return {(j, a) for j in jobs for a in agents}


def sweep_all(trees: list[JobTree]) -> None:
    """Each tree's sweep (members by session, process group or marker environment),
    from one scan of /proc for all of them: when many jobs end at once, each
    process's stat and environment are read once, not once a job."""
    if not trees:
        return
    table = process_table()
    by_root: dict[int, list[JobTree]] = defaultdict(list)
    for t in trees:
        if t._by_session:
            by_root[t.root_pid].append(t)
    by_marker: dict[tuple[bytes, bytes], list[JobTree]] = defaultdict(list)
    for t in trees:
        by_marker[t.marker].append(t)
    uids = {t.uid for t in trees}
    oldest = min(t.root_start for t in trees)  # no job's process started earlier
    for pid, (_, pgrp, sid, start) in table.items():
        in_session = (*by_root.get(sid, ()), *by_root.get(pgrp, ()))
        for t in in_session:
            t._add(pid)  # (not twice: a member already is one)
        if start < oldest:
            continue
        try:
            uid = os.stat(f"/proc/{pid}").st_uid
            if uid not in uids:
                continue
            environ = read_proc(pid, "environ")
        except OSError:
            continue
        for mark in _markers(environ):
            for t in by_marker.get(mark, ()):
                if t.uid == uid and t not in in_session:
                    t._add(pid)
    kids = children_map(table)
    for t in trees:
        t.refresh(kids)
