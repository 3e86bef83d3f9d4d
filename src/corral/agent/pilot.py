"""A pilot: an agent submitted as an ordinary job into a site's batch system
(docs/pilots.md). It offers its allocation's CPUs and memory, registers with its site
and the end of its allocation (its deadline: the controller never starts a job there
that would run past it), and leaves when it has had nothing to run for its idle
timeout, or at its deadline. Killed by its batch system (scancel, qdel): it kills its
jobs and reports them lost, as a lost node's, so that they are requeued."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LEAVE_CHECK_S = 1.0  # how often a pilot looks whether it should leave
KILL_WAIT_S = 5.0  # killed: how long it waits for its jobs' ends before it exits
# killed: a job that ended more than this before the pilot heard of it ended on its
# own (its report stands); one that ended later ended with the allocation (lost)
KILL_SLACK_S = 2.0


@dataclass(frozen=True, slots=True)
class PilotSettings:
    site: str
    deadline: float  # epoch seconds: no job runs past it
    idle_timeout_s: float
    batch_job: str = ""  # its job id in the site's batch system


@dataclass(frozen=True, slots=True)
class Allocation:
    """What the batch system gave the pilot's job, from its environment."""

    batch_job: str
    cpus: int | None
    mem_mb: int | None


def _int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = env.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def allocation(env: Mapping[str, str]) -> Allocation:
    """Slurm's SLURM_JOB_ID, SLURM_CPUS_ON_NODE and SLURM_MEM_PER_NODE (MiB), or Grid
    Engine's JOB_ID and NSLOTS (memory: as the agent detects it)."""
    if env.get("SLURM_JOB_ID"):
        return Allocation(env["SLURM_JOB_ID"], _int(env, "SLURM_CPUS_ON_NODE"),
                          _int(env, "SLURM_MEM_PER_NODE"))
    if env.get("JOB_ID"):
        return Allocation(env["JOB_ID"], _int(env, "NSLOTS"), None)
    return Allocation("", None, None)


def pilot_spool(node: str) -> Path:
    """A pilot's own spool, in the job's temporary directory (removed with it)."""
    base = os.environ.get("TMPDIR") or tempfile.gettempdir()
    return Path(base) / f"corral-pilot-{node}"


def why_leave(settings: PilotSettings, now: float, idle_since: float | None) -> str | None:
    """Why an idle pilot (idle since `idle_since`; None: busy) leaves now, or None."""
    if idle_since is None:
        return None
    if now >= settings.deadline:
        return "deadline reached"
    if now - idle_since >= settings.idle_timeout_s:
        return f"idle for {settings.idle_timeout_s:g} s"
    return None
