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
import re
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from corral.model import json_codec
from corral.model.job import Job, TrackedJob
from corral.services.access import withheld

_SCHED_KEYS = ("reason", "priority", "priority_factors", "t_expected_start")

# The brief view of a job (GET /v1/jobs?view=brief): what job tables show, no spec.
# None of it is private: every caller who sees the job reads the same brief.
BRIEF_KEYS = ("id", "display_id", "array_job_id", "array_task_id", "array_spec",
              "dependency", "qos", "reservation", "name", "user", "uid", "gid", "state",
              "partition", "account", "nodes", "cpus", "cpus_per_node", "mem_mb_per_node",
              "gpus_per_node", "time_limit_s", "t_submit", "t_start", "t_end", "node_list",
              "exit_code", "signal", "cpu_time_s", "max_rss_mb", "energy_j", "restarts",
              "retries", "deep_retries", "cancelled_by_uid", "reason", "priority",
              "t_expected_start")
# an array's pending rest adds these (what its row and its tasks are made of)
BRIEF_REST_KEYS = ("array_pending", "array_pending_count", "array_throttle")
VIEWS = ("full", "brief")


def dumps(value: Any) -> bytes:
    """JSON as the web layer writes it (compact, UTF-8; model/json_codec.py)."""
    return json_codec.dumps(value)


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


def brief_dict(d: dict[str, Any]) -> dict[str, Any]:
    """A job's dict (full or public) as the brief view shows it."""
    out = {k: d[k] for k in BRIEF_KEYS if k in d}
    for k in BRIEF_REST_KEYS:
        if k in d:
            out[k] = d[k]
    return out


def brief(full: bytes) -> bytes:
    """The brief view of a job from its JSON (full or public: the brief has no private
    field). A queued job's rendering (job_json: main part in Job.to_dict()'s order,
    then the scheduler part) is cut, not parsed: its prefix up to `node_list`, how
    it ended (`exit_code` to `cancelled_by_uid`), its scheduler part without the
    priority's factors (about a µs a job). Anything else (an array's rest, a job read
    from the store) is parsed."""
    out = _cut(full)
    return out if out is not None else dumps(brief_dict(json.loads(full)))


_NUM = rb"(?:null|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_TAIL = re.compile(rb',"t_expected_start":' + _NUM + rb"\}")


def _cut(full: bytes) -> bytes | None:
    """The brief cut out of a queued job's JSON; None: not laid out so (the JSON does
    not end with its scheduler part). A JSON string escapes its quotes, so a
    `,"key":` found outside of the maps of GPU and CPU ids (whose keys are node names
    and values lists) is a key of the job itself, and between `exit_code` and
    `live_usage` there are only numbers."""
    expected = full.rfind(b',"t_expected_start":')
    if expected < 0 or _TAIL.fullmatch(full, expected) is None:
        return None
    at = full.find(b',"gpu_ids":')
    code = full.find(b',"exit_code":', at)
    while code > 0 and full[code + 13:code + 14] == b"[":  # a node named exit_code
        code = full.find(b',"exit_code":', code + 1)
    ended = full.find(b',"live_usage":', code)
    sched = full.rfind(b',"reason":', 0, expected)
    factors = full.find(b',"priority_factors":', sched)
    if not 0 < at < code < ended < sched < factors < expected:
        return None
    return full[:at] + full[code:ended] + full[sched:factors] + full[expected:]


class Briefs:
    """The brief views of a run of jobs, joined (as a listing's piece) with where
    each one ends, and the jobs' ids in order: a listing of some of them slices its
    jobs out (nothing kept a job)."""

    __slots__ = ("ends", "ids", "joined")

    def __init__(self, ids: Sequence[int], parts: Sequence[bytes]) -> None:
        self.joined = b",".join(parts)
        self.ids = array("q", ids)
        ends = array("I")
        at = -1
        for part in parts:
            at += len(part) + 1
            ends.append(at)
        self.ends = ends

    def part(self, job_id: int) -> bytes | None:
        """The brief of this job (None: not among them)."""
        ids = self.ids
        i = bisect_left(ids, job_id)
        if i == len(ids) or ids[i] != job_id:
            return None
        start = self.ends[i - 1] + 1 if i else 0
        return self.joined[start:self.ends[i]]


def listing(entries: Iterable[tuple[int, bytes]], *, limit: int | None = None) -> bytes:
    """`{"jobs": [...]}` from (id, JSON) pairs already in id order."""
    parts = [b for _, b in entries]
    if limit is not None:
        parts = parts[:limit]
    return b'{"jobs":[' + b",".join(parts) + b"]}"


def merged(*runs: Iterable[tuple[int, bytes]]) -> Iterable[tuple[int, bytes]]:
    """Several runs of (id, JSON), each in id order, as one run in id order."""
    return heapq.merge(*runs, key=lambda e: e[0])
