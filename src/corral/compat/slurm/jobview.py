"""A corral job dict seen as Slurm shows it: states, reasons, ids, exit codes."""

from __future__ import annotations

import time
from typing import Any

from corral.compat import timefmt
from corral.model import hostlist
from corral.model.states import FINAL_JOB_STATES

STATE_CODES = {
    "PENDING": "PD", "RUNNING": "R", "SUSPENDED": "S", "COMPLETING": "CG",
    "COMPLETED": "CD", "FAILED": "F", "CANCELLED": "CA", "TIMEOUT": "TO",
    "OUT_OF_MEMORY": "OOM", "NODE_FAIL": "NF", "PREEMPTED": "PR", "REQUEUED": "RQ",
}
CODE_STATES = {v: k for k, v in STATE_CODES.items()}
FINAL = frozenset(str(s) for s in FINAL_JOB_STATES)


def state(job: dict[str, Any]) -> str:
    """corral -> Slurm: HELD is PENDING (the reason says JobHeldUser); the rest match."""
    s = str(job["state"])
    return "PENDING" if s == "HELD" else s


def state_code(job: dict[str, Any]) -> str:
    return STATE_CODES.get(state(job), state(job)[:2])


def slurm_state_name(text: str) -> str:
    """A user's state filter word (`pd`, `R`, `completed`) -> the Slurm state name."""
    up = text.strip().upper()
    return CODE_STATES.get(up, up)


def reason(job: dict[str, Any]) -> str:
    r = str(job.get("reason") or "None")
    if job["state"] == "HELD" and not r.startswith("JobHeld"):
        return "JobHeldUser"
    if job["state"] in ("RUNNING", "COMPLETING", "SUSPENDED"):
        return "None"
    if job["state"] in FINAL:
        return {"FAILED": "NonZeroExitCode", "TIMEOUT": "TimeLimit",
                "OUT_OF_MEMORY": "OutOfMemory"}.get(job["state"], "None")
    return r


def job_id(job: dict[str, Any]) -> str:
    return str(job.get("display_id") or job["id"])


def array_job_id(job: dict[str, Any]) -> str:
    a = job.get("array_job_id")
    return str(a if a is not None else job["id"])


def array_task_id(job: dict[str, Any], none: str = "N/A") -> str:
    t = job.get("array_task_id")
    return none if t is None else str(t)


def nodelist(job: dict[str, Any], empty: str = "") -> str:
    nodes = job.get("node_list") or []
    return hostlist.compress(list(nodes)) if nodes else empty


def nodelist_reason(job: dict[str, Any]) -> str:
    if job["state"] in ("PENDING", "HELD"):
        return f"({reason(job)})"
    return nodelist(job)


def exit_code(job: dict[str, Any]) -> str:
    """Slurm's `code:signal`."""
    code = job.get("exit_code")
    sig = job.get("signal") or 0
    return f"{code if code is not None and code >= 0 else 0}:{sig}"


def time_used(job: dict[str, Any]) -> str:
    return timefmt.compact(timefmt.elapsed_s(job))


def time_left(job: dict[str, Any]) -> str:
    lim = job.get("time_limit_s") or 0
    if not lim:
        return "UNLIMITED"
    return timefmt.compact(max(0.0, lim - timefmt.elapsed_s(job)))


def end_time(job: dict[str, Any], unknown: str = "N/A") -> str:
    if job.get("t_end") is not None:
        return timefmt.stamp(job["t_end"])
    if job.get("t_start") is not None and job.get("time_limit_s"):
        return timefmt.stamp(job["t_start"] + job["time_limit_s"])
    return unknown


def mem(job: dict[str, Any]) -> str:
    m = job.get("mem_mb_per_node")
    if not m:
        return "0"
    return f"{m // 1024}G" if m % 1024 == 0 else f"{m}M"


def command(job: dict[str, Any]) -> str:
    spec = job.get("spec") or {}
    if spec.get("script") is None and spec.get("argv"):
        return " ".join(spec["argv"])
    return "(null)"  # a script is copied at submit; its path is not kept


def uid(job: dict[str, Any]) -> str:
    return str(job.get("uid", ""))


def now() -> float:
    return time.time()
