"""A corral job dict seen as Grid Engine shows it: states, times, task ids."""

from __future__ import annotations

import time
from typing import Any

from corral.compat import frontend
from corral.model.errors import InvalidRequest
from corral.model.jobid import JobRef, parse_job_id, parse_job_ref


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
    if t is None and job.get("array_pending"):  # an array's pending rest: one line
        return str(job["array_pending"])
    return "" if t is None else str(t)


def queue(job: dict[str, Any]) -> str:
    nodes = job.get("node_list") or []
    return f"{job['partition']}@{nodes[0]}" if nodes and state(job) == "r" else ""


def is_job_id(text: str) -> bool:
    """A plain job id (by the one strict parser), not a job name."""
    try:
        parse_job_id(text)
    except InvalidRequest:
        return False
    return True


def job_ref(spec: str) -> JobRef:
    """Grid Engine's `N`, `N.T` or `N.T-U` (array tasks), read by the one job-id
    parser as `N`, `N_T`, `N_[T-U]`."""
    base, dot, tasks = spec.partition(".")
    text = f"{base}_[{tasks}]" if dot and "-" in tasks else f"{base}_{tasks}" if dot else base
    try:
        return parse_job_ref(text)
    except InvalidRequest:
        frontend.fail(f'job "{spec}" is not a job id', 1)


def parse_ids(words: list[str], prog: str) -> list[str]:
    out = [p for w in words for p in w.replace(",", " ").split()]
    for p in out:
        job_ref(p)
    return out


def jobs_for(c: Any, spec: str) -> list[dict[str, Any]]:
    """A job number (an array's: all of its tasks), or `N.T` one task."""
    ref = job_ref(spec)
    base = ref.job_id
    arr = [j for j in c.jobs(array=[str(base)], expand_arrays=True)
           if j.get("array_job_id") == base]
    if arr:
        if ref.tasks is not None:
            arr = [j for j in arr if j.get("array_task_id") in ref.tasks]
        return arr
    try:
        return [c.job(base)]
    except Exception as e:
        if getattr(e, "code", "") == "not_found":
            return []
        raise
