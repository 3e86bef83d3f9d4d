"""The read model: each job's JSON, built once per change and shared by every reader.

A listing or a one-job query used to convert every job in full for every request.
Here each job held in the queue (a TrackedJob, model/job.py) keeps its rendering:
the main part (everything but what a scheduling pass writes) and a small scheduler
part (reason, priority, its factors, the expected start), kept joined as one byte
string (the scheduler part last, so the main part is the rest of it; the snapshot
holds the same string: one copy a job). Assigning any field of the
job drops the part that depends on it, so the next rendering builds it again; the
controller renders each job that changed when it publishes its read model
(services/snapshot.py), from which readers answer.

Jobs not in the queue (a task still in its array's rest, a job read from the store)
are rendered afresh each time. A job has two renderings: the full one, for its
owner and administrators, and the public one with its private fields withheld
(services/access.py), for everyone else; each is built when first asked for. The
JSON is the API's Job (docs/specs/05-rest-api.md), as the web layer would have
written `Job.to_dict()`.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from typing import Any

from corral.model.job import Job, TrackedJob
from corral.services.access import withheld

_SCHED_KEYS = ("reason", "priority", "priority_factors", "t_expected_start")


def dumps(value: Any) -> bytes:
    """JSON as the web layer writes it (compact, UTF-8, no NaN)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


def _main(d: dict[str, Any]) -> bytes:
    """A job's dict but its scheduler part, as a JSON fragment `{...,`."""
    return dumps({k: v for k, v in d.items() if k not in _SCHED_KEYS})[:-1] + b","


def job_json(job: Job, d: dict[str, Any] | None = None, *, public: bool = False) -> bytes:
    """The job as JSON; `public`: with its private fields withheld (services/access.py),
    for a caller who may not read them. `d`: another rendering of the job to use
    instead (not cached: an array's rest, as the caller may see it)."""
    if d is not None or type(job) is not TrackedJob:
        if d is None:
            d = withheld(job.to_dict()) if public else job.to_dict()
        return dumps(d)
    views = job.views
    if views is None:
        views = job.views = {}
    sched = job.view_sched
    key = "public" if public else "whole"
    # (the scheduler part it was joined with, the whole): the main part is the whole
    # but that suffix, so one rendering a job is kept (the snapshot's too), not two
    whole = views.get(key)
    if whole is not None and whole[0] is sched:
        return whole[1]  # type: ignore[no-any-return]
    if whole is not None:  # only the scheduler part changed (or none)
        main = whole[1][:len(whole[1]) - len(whole[0])]
        if sched is None:
            sched = job.view_sched = dumps(job.sched_dict())[1:]
    else:
        d = job.to_dict()
        if sched is None:
            sched = job.view_sched = dumps({k: d[k] for k in _SCHED_KEYS})[1:]
        main = _main(withheld(d) if public else d)
    out: bytes = main + sched
    views[key] = (sched, out)
    return out


def forget(job: TrackedJob) -> None:
    """Drop the job's kept renderings (the read model has packed its JSON): the next
    change renders it afresh (both parts: the scheduler part alone is of no use
    without the rest)."""
    object.__setattr__(job, "views", None)
    object.__setattr__(job, "view_sched", None)


def listing(entries: Iterable[tuple[int, bytes]], *, limit: int | None = None) -> bytes:
    """`{"jobs": [...]}` from (id, JSON) pairs already in id order."""
    parts = [b for _, b in entries]
    if limit is not None:
        parts = parts[:limit]
    return b'{"jobs":[' + b",".join(parts) + b"]}"


def merged(*runs: Iterable[tuple[int, bytes]]) -> Iterable[tuple[int, bytes]]:
    """Several runs of (id, JSON), each in id order, as one run in id order."""
    return heapq.merge(*runs, key=lambda e: e[0])
