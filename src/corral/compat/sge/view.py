"""A corral job dict seen as Grid Engine shows it: states, times, task ids."""

from __future__ import annotations

import time
from typing import Any

from corral.compat import frontend


def state(job: dict[str, Any]) -> str:
    s = job["state"]
    if s == "HELD":
        return "hqw"
    if s == "PENDING":
        return "Rq" if job.get("restarts") else "qw"
    if s in ("RUNNING", "COMPLETING"):
        return "r"
    if s == "SUSPENDED":
        return "s"
    return "z"  # finished (qstat -s z)


def stamp(t: float | None) -> str:
    return "" if t is None else time.strftime("%m/%d/%Y %H:%M:%S", time.localtime(t))


def ctime(t: float | None) -> str:
    return "-/-" if t is None else time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))


def job_number(job: dict[str, Any]) -> int:
    a = job.get("array_job_id")
    return int(a if a is not None else job["id"])


def task(job: dict[str, Any]) -> str:
    t = job.get("array_task_id")
    return "" if t is None else str(t)


def queue(job: dict[str, Any]) -> str:
    nodes = job.get("node_list") or []
    return f"{job['partition']}@{nodes[0]}" if nodes and state(job) == "r" else ""


def parse_ids(words: list[str], prog: str) -> list[str]:
    out = [p for w in words for p in w.replace(",", " ").split()]
    for p in out:
        if not p.split(".")[0].isdigit():
            frontend.fail(f'job "{p}" is not a job id', 1)
    return out


def jobs_for(c: Any, spec: str) -> list[dict[str, Any]]:
    """A job number (an array's: all of its tasks), or `N.T` one task."""
    base, _, tasks = spec.partition(".")
    arr = [j for j in c.jobs(array=[base]) if j.get("array_job_id") == int(base)]
    if arr:
        if tasks:
            lo, _, hi = tasks.partition("-")
            want = range(int(lo), int(hi or lo) + 1)
            arr = [j for j in arr if j.get("array_task_id") in want]
        return arr
    try:
        return [c.job(int(base))]
    except Exception as e:
        if getattr(e, "code", "") == "not_found":
            return []
        raise
