"""The durable record of each run of a job in the agent's spool, and the node's lease.

`<spool>/job<ID>/run<R>/` belongs to one run of one job and to nothing else, so a
requeued job's next run never rewrites a file an earlier run may still read:

    script       the job script (owned by the job's user)
    launch.json  the launch order, the launching agent's id, the start time, the
                 job's cgroup and what the supervisor needs ("spawn"); written by the
                 agent before the run starts
    supervisor   the pid of the run's supervisor (or "agent": the agent made sure
                 none will run it); created once (corral.agent.supervisors)
    procs.json   the supervisor's and the job's pid, each with its start time (the
                 22nd field of /proc/<pid>/stat, so that a reused pid is not taken
                 for ours); written by the supervisor once it has forked the job
    status.json  how the job's main process ended; written by the supervisor
    report.json  the report sent to the controller; written by the agent, and the
                 run's directory is removed once the controller acknowledges it

`<spool>/lease` holds the CLOCK_BOOTTIME second until which the node's jobs may run
(`inf`: no lease); supervisors end their job once it has passed.
Every file is written whole under a temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.agent.supervise import KILL_DEADLINE_FILE

log = logging.getLogger(__name__)

LEASE_FILE = "lease"
_JOB_DIR = re.compile(r"^job(\d+)$")
_RUN_DIR = re.compile(r"^run(\d+)$")


def run_dir(spool: Path, job_id: int, run: int) -> Path:
    return spool / f"job{job_id}" / f"run{run}"


def write_json(path: Path, data: dict[str, Any], mode: int = 0o600) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, json.dumps(data).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks after boot); None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(pid: int, start: int) -> bool:
    """The process `pid` that started at `start` still runs (not a reused pid)."""
    return pid > 0 and start_time(pid) == start


def stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:].split()[0] in (b"T", b"t")


def write_kill_deadline(run_dir: Path, until: float) -> None:
    """A kill in progress ends its grace period at CLOCK_BOOTTIME `until`: the run's
    supervisor lets the job's other processes live until then (supervise.py)."""
    tmp = run_dir / (KILL_DEADLINE_FILE + ".tmp")
    tmp.write_text(f"{until:.3f}\n")
    os.replace(tmp, run_dir / KILL_DEADLINE_FILE)


def hold_lock(path: Path) -> int | None:
    """An exclusive lock on `path` for the life of this process (None: another process
    holds it). Two agents on one spool would both follow the same jobs."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def write_lease(spool: Path, until: float) -> None:
    """Let the node's jobs run until CLOCK_BOOTTIME `until` (inf: no lease)."""
    tmp = spool / (LEASE_FILE + ".tmp")
    tmp.write_text(f"{until!r}\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, spool / LEASE_FILE)


def renew_lease(spool: Path, t_sent: float, lease_s: object) -> float | None:
    """The controller answered a request sent at CLOCK_BOOTTIME `t_sent`: the node's
    jobs may run until `lease_s` after it (docs/specs/02-agent-protocol.md §2.6).
    Returns the lease (None: the controller grants none, the jobs run unbounded)."""
    granted: float | None = None
    if isinstance(lease_s, int | float) and not isinstance(lease_s, bool) and lease_s > 0:
        granted = float(lease_s)
    try:
        write_lease(spool, t_sent + granted if granted is not None else float("inf"))
    except OSError as exc:
        log.error("cannot renew the lease in %s: %s", spool, exc)
    return granted


@dataclass(frozen=True, slots=True)
class Exit:
    """How a run's main process ended, as its supervisor recorded it."""

    status: int | None  # wait status; None: lost (the supervisor died first)
    cpu_s: float = 0.0
    t_end: float = 0.0
    lease_lapsed: bool = False


def read_exit(path: Path) -> Exit | None:
    data = read_json(path / "status.json")
    if data is None:
        return None
    try:
        return Exit(int(data["status"]), float(data.get("cpu_s", 0.0)),
                    float(data.get("t_end", 0.0)), bool(data.get("lease_lapsed", False)))
    except (KeyError, TypeError, ValueError):
        return Exit(None)


@dataclass(frozen=True, slots=True)
class Procs:
    supervisor_pid: int
    supervisor_start: int
    job_pid: int
    job_start: int


def read_procs(path: Path) -> Procs | None:
    data = read_json(path / "procs.json")
    if data is None:
        return None
    try:
        return Procs(int(data["supervisor_pid"]), int(data["supervisor_start"]),
                     int(data["job_pid"]), int(data["job_start"]))
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Record:
    """One run found in the spool."""

    path: Path
    job_id: int
    run: int
    launch: dict[str, Any] | None  # launch.json, None if unreadable
    report: dict[str, Any] | None  # report.json


def _runs_of(job_dir: Path, job_id: int) -> list[Record]:
    out = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(job_dir):
            r = _RUN_DIR.match(entry.name)
            if r and entry.is_dir(follow_symlinks=False):
                path = Path(entry.path)
                out.append(Record(path, job_id, int(r.group(1)),
                                  read_json(path / "launch.json"),
                                  read_json(path / "report.json")))
    return out


def scan(spool: Path) -> list[Record]:
    """Every run directory in the spool, newest run of each job first."""
    out: list[Record] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(spool):
            m = _JOB_DIR.match(entry.name)
            if m and entry.is_dir(follow_symlinks=False):
                out += _runs_of(Path(entry.path), int(m.group(1)))
    out.sort(key=lambda rec: (rec.job_id, -rec.run))
    return out


def scan_job(spool: Path, job_id: int) -> list[Record]:
    """The runs of one job found in the spool."""
    return _runs_of(spool / f"job{job_id}", job_id)


def remove(path: Path) -> None:
    """Remove a run's directory, and its job's directory once it holds no run."""
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()
