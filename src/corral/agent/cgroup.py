"""cgroup v2 memory limits, when this agent has a delegated hierarchy to work in.

Layout (the systemd "Delegate=yes" pattern), inside the agent's own cgroup B:
    B/agent/        the agent process itself (moved there at start-up)
    B/job<ID>-<tag> one per job: memory.max, memory.swap.max=0, cpuset.cpus (its CPUs)
The kernel then enforces the limit; `memory.events` says whether it killed, and
`cgroup.kill` ends every process of the job at once. Without a writable cgroup2
hierarchy with the memory controller, `detect()` returns None and the launcher
falls back to RSS monitoring (corral.agent.proctree).
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

MIB = 1024 * 1024


def _cgroup2_mount() -> Path | None:
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return Path(left.split(" ")[4])
    except OSError:
        return None
    return None


def _own_cgroup() -> str | None:
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        return None
    return None


class JobCgroup:
    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(f"{pid}\n")

    def _events(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "memory.events").read_text().splitlines():
                key, value = line.split()
                out[key] = int(value)
        return out

    def oom_killed(self) -> bool:
        return self._events().get("oom_kill", 0) > 0

    def peak_mb(self) -> float:
        try:
            return int((self.path / "memory.peak").read_text()) / MIB
        except (OSError, ValueError):
            return 0.0

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            (self.path / "cgroup.kill").write_text("1\n")

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self.path.rmdir()


class CgroupManager:
    def __init__(self, base: Path, tag: str) -> None:
        self.base = base
        self.tag = tag

    @classmethod
    def detect(cls, tag: str) -> CgroupManager | None:
        """Set up B/agent and enable +memory for job cgroups, or None if impossible."""
        mount, own = _cgroup2_mount(), _own_cgroup()
        if mount is None or own is None:
            return None
        base = mount / own.lstrip("/")
        try:
            if "memory" not in (base / "cgroup.controllers").read_text().split():
                return None
            agent = base / "agent"
            agent.mkdir(exist_ok=True)
            (agent / "cgroup.procs").write_text(f"{os.getpid()}\n")
            enabled = (base / "cgroup.subtree_control").read_text().split()
            if "memory" not in enabled:
                (base / "cgroup.subtree_control").write_text("+memory\n")
            if "cpuset" in (base / "cgroup.controllers").read_text().split():
                with contextlib.suppress(OSError):  # CPU affinity binds jobs without it
                    (base / "cgroup.subtree_control").write_text("+cpuset\n")
        except OSError as exc:
            log.info("cgroup v2 not usable at %s (%s); memory limits by RSS monitoring",
                     base, exc.strerror or exc)
            return None
        log.info("cgroup v2 memory limits under %s", base)
        return cls(base, tag)

    def create(self, job_id: int, mem_mb: int | None,
               cpus: tuple[int, ...] = ()) -> JobCgroup:
        path = self.base / f"job{job_id}-{self.tag}"
        path.mkdir(exist_ok=True)
        cg = JobCgroup(path)
        try:
            cpuset = path / "cpuset.cpus"
            if cpus and cpuset.exists():  # the kernel keeps the job on its CPUs
                cpuset.write_text(",".join(str(c) for c in sorted(cpus)) + "\n")
            if mem_mb is not None:
                (path / "memory.max").write_text(f"{mem_mb * MIB}\n")
                swap = path / "memory.swap.max"
                if swap.exists():
                    swap.write_text("0\n")
            group = path / "memory.oom.group"  # the OOM killer ends the whole job
            if group.exists():
                group.write_text("1\n")
        except OSError:
            cg.remove()
            raise
        return cg
