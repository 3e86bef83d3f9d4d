"""Job rows: insert (with the submit event), save, load and query.

Every function works in the caller's transaction (`with engine.begin() as conn:`);
nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    bindparam,
    insert,
    select,
    update,
)

from corral.model.errors import NotFound
from corral.model.event import EventKind
from corral.model.intent import parse_intent
from corral.model.job import NO_GPU_IDS, Job, JobSpec
from corral.model.json_codec import dumps_str
from corral.model.record import image, spec_dict, submit_data
from corral.model.states import FINAL_JOB_STATES, JobState
from corral.store.dialect import can_batch_returning, reserve_id_block, reserve_ids
from corral.store.events import append_events, event_row
from corral.store.meta import get_meta
from corral.store.schema import jobs

_FINAL = sorted(str(s) for s in FINAL_JOB_STATES)
_UNFINISHED = sorted(str(s) for s in JobState if s not in FINAL_JOB_STATES)
MAX_SPAN_KEY = "max_job_span_s"  # meta: the longest submit-to-end (store/usage.py)


def _spec_json(spec_d: dict[str, Any]) -> str:
    return dumps_str(spec_d, sort_keys=True)


def _mutable_values(job: Job, spec_d: dict[str, Any] | None = None, *,
                    with_spec: bool = True) -> dict[str, Any]:
    """Every column the controller may change after submit (`with_spec=False`: but
    the spec)."""
    values = {
        "state": str(job.state),
        "reason": job.reason,
        "intent": str(job.intent) if job.intent is not None else None,
        "partition": job.partition,
        "name": job.spec.name,
        "account": job.spec.account,
        "time_limit_s": job.time_limit_s,
        "mem_mb_per_node": job.mem_mb_per_node,
        "t_start": job.t_start,
        "t_end": job.t_end,
        "node_list": ",".join(job.nodes),
        "exit_code": job.exit_code,
        "signal": job.signal,
        "cpu_time_s": job.cpu_time_s,
        "max_rss_mb": job.max_rss_mb,
        "energy_j": job.energy_j,
        "restarts": job.restarts,
        "retries": job.retries,
        "deep_retries": job.deep_retries,
        "priority": job.priority,
        "array_job_id": job.array_job_id,
        "array_task_id": job.array_task_id,
        "gpu_ids": _gpu_json(job.gpu_ids),
        "cpu_ids": _gpu_json(job.cpu_ids),
        "cancelled_by_uid": job.cancelled_by_uid,
    }
    if with_spec:
        values["spec"] = _spec_json(spec_d if spec_d is not None else spec_dict(job.spec))
    return values


def _gpu_json(gpu_ids: Mapping[str, tuple[int, ...]]) -> str | None:
    """{node: [GPU index or CPU id, ...]} as JSON (None: empty)."""
    if not gpu_ids:
        return None
    return json.dumps({node: list(ids) for node, ids in gpu_ids.items()}, sort_keys=True)


def _gpu_ids(text: str | None) -> Mapping[str, tuple[int, ...]]:
    if not text:
        return NO_GPU_IDS
    return {str(node): tuple(int(i) for i in ids) for node, ids in json.loads(text).items()}


def _insert_values(job: Job, spec_d: dict[str, Any]) -> dict[str, Any]:
    values = _mutable_values(job, spec_d)
    values.update(user=job.user, uid=job.uid, gid=job.gid, t_submit=job.t_submit)
    return values


def _submit_event(job_id: int, job: Job, data: dict[str, Any]) -> dict[str, Any]:
    return event_row(job_id, job.t_submit, EventKind.SUBMIT, None, str(job.state), data)


def insert_job(conn: Connection, job: Job, data: dict[str, Any] | None = None) -> int:
    """Insert a new job (job.id is ignored) and its submit event, whose data is `data`
    (the submit command's) or the job's (model/record.py: submit_data); returns the
    new id."""
    spec_d = spec_dict(job.spec)
    job_id = int(conn.execute(insert(jobs).returning(jobs.c.id), _insert_values(job, spec_d))
                 .scalar_one())
    append_events(conn, [_submit_event(job_id, job, submit_data(job) if data is None
                                       else data)])
    return job_id


def insert_job_with_id(conn: Connection, job: Job, data: dict[str, Any]) -> None:
    """Insert a job under its already reserved id (an array task leaving its rest),
    with a submit event carrying `data` and, under "set", the job's whole row."""
    values = _insert_values(job, spec_dict(job.spec))
    values["id"] = job.id
    conn.execute(insert(jobs), values)
    append_events(conn, [event_row(job.id, job.t_submit, EventKind.SUBMIT, None,
                                   str(job.state), {**data, "set": image(job)})])


# built once (a submit inserts through it)
_INSERT_RETURNING_IDS = insert(jobs).returning(jobs.c.id, sort_by_parameter_order=True)


def insert_jobs(conn: Connection, batch: Sequence[Job],
                datas: Sequence[dict[str, Any]] | None = None) -> list[int]:
    """Insert many new jobs and their submit events (group commit), each event's data
    the matching one of `datas` or the job's own; ids in input order."""
    if not batch:
        return []
    specs = [spec_dict(j.spec) for j in batch]
    if datas is None:
        datas = [{**d, "set": image(j, spec=False)} for j, d in zip(batch, specs, strict=True)]
    rows = [_insert_values(j, d) for j, d in zip(batch, specs, strict=True)]
    reserved = reserve_ids(conn, jobs.c.id, len(rows))
    if reserved is not None:
        for row, job_id in zip(rows, reserved, strict=True):
            row["id"] = job_id
        conn.execute(insert(jobs), rows)
        ids = reserved
    elif can_batch_returning(conn):
        ids = [int(i) for i in conn.execute(_INSERT_RETURNING_IDS, rows).scalars().all()]
    else:  # pragma: no cover - both supported dialects batch with RETURNING
        ids = [int(conn.execute(insert(jobs).returning(jobs.c.id), r).scalar_one())
               for r in rows]
    append_events(conn, [_submit_event(i, j, d)
                         for i, j, d in zip(ids, batch, datas, strict=True)])
    return ids


def set_array_ids(conn: Connection, ids: Sequence[int], task_ids: Sequence[int]) -> None:
    """Make the jobs `ids` the tasks of one array whose id is ids[0]."""
    rows = [{"b_id": i, "b_task": t} for i, t in zip(ids, task_ids, strict=True)]
    stmt = (update(jobs).where(jobs.c.id == bindparam("b_id"))
            .values(array_job_id=ids[0], array_task_id=bindparam("b_task")))
    conn.execute(stmt, rows)


_MUTABLE = tuple(_mutable_values(Job(
    id=0, spec=JobSpec(name="-", working_dir="/"), user="-", uid=0, gid=0, t_submit=0.0,
    state=JobState.PENDING, partition="-", time_limit_s=1, mem_mb_per_node=None)))
# built once with bind parameters (every event of a job saves its row through one)
_SAVE = update(jobs).where(jobs.c.id == bindparam("b_id")).values(
    {name: bindparam(f"b_{name}") for name in _MUTABLE})
_SAVE_BUT_SPEC = update(jobs).where(jobs.c.id == bindparam("b_id")).values(
    {name: bindparam(f"b_{name}") for name in _MUTABLE if name != "spec"})


def save_job(conn: Connection, job: Job, *, spec: bool = True) -> None:
    """Write every mutable column of an existing job (its event is the caller's);
    `spec=False`: all but its spec, which the caller knows unchanged (encoding it is
    most of the cost)."""
    values = _mutable_values(job, with_spec=spec)
    params = {f"b_{name}": value for name, value in values.items()}
    params["b_id"] = job.id
    if conn.execute(_SAVE if spec else _SAVE_BUT_SPEC, params).rowcount != 1:
        raise NotFound(f"job {job.id}: not in the store")


def _job(row: Row[Any]) -> Job:
    return Job(
        id=int(row.id),
        spec=JobSpec.from_dict(json.loads(row.spec)),
        user=row.user,
        uid=int(row.uid),
        gid=int(row.gid),
        state=JobState(row.state),
        t_submit=float(row.t_submit),
        partition=row.partition,
        time_limit_s=int(row.time_limit_s),
        mem_mb_per_node=row.mem_mb_per_node,
        reason=row.reason,
        intent=parse_intent(row.intent),
        t_start=row.t_start,
        t_end=row.t_end,
        nodes=tuple(row.node_list.split(",")) if row.node_list else (),
        exit_code=row.exit_code,
        signal=row.signal,
        cpu_time_s=row.cpu_time_s,
        max_rss_mb=row.max_rss_mb,
        energy_j=row.energy_j,
        restarts=int(row.restarts),
        retries=int(row.retries),
        deep_retries=int(row.deep_retries),
        priority=float(row.priority),
        array_job_id=row.array_job_id,
        array_task_id=row.array_task_id,
        gpu_ids=_gpu_ids(row.gpu_ids),
        cpu_ids=_gpu_ids(row.cpu_ids),
        cancelled_by_uid=row.cancelled_by_uid,
    )


def _fetch(conn: Connection, q: Select[Any]) -> list[Job]:
    return [_job(r) for r in conn.execute(q.order_by(jobs.c.id))]


def load_jobs(
    conn: Connection, *, unfinished_only: bool = False, since_t_end: float | None = None
) -> list[Job]:
    """Jobs ordered by id. By default all of them. `unfinished_only`: those not in a
    final state. `since_t_end`: the unfinished ones plus those that ended at or after
    that time (what a restarting controller keeps in memory)."""
    q = select(jobs)
    unfinished = jobs.c.state.in_(_UNFINISHED)
    if since_t_end is not None and not unfinished_only:
        # two index reads (state, t_end), not one scan of the whole history for the OR
        # (t_end alone: with the final states named, SQLite would read them all by state)
        found = {j.id: j for j in map(_job, conn.execute(q.where(unfinished)))}
        for r in conn.execute(q.where(jobs.c.t_end >= since_t_end)):
            if r.id not in found:
                found[r.id] = _job(r)
        return [found[i] for i in sorted(found)]
    if unfinished_only:
        q = q.where(unfinished)
    return _fetch(conn, q)


def recent_runtimes(conn: Connection, limit: int) -> list[tuple[str, float, float]]:
    """(user, requested time in s (inf: unlimited), runtime in s) of the last
    `limit` jobs that ran and ended, oldest end first: what a restarting
    controller's runtime predictor learns from (one read of the t_end index)."""
    q = (
        select(jobs.c.user, jobs.c.time_limit_s, jobs.c.t_start, jobs.c.t_end)
        .where(jobs.c.t_end.is_not(None), jobs.c.t_start.is_not(None))
        .order_by(jobs.c.t_end.desc(), jobs.c.id.desc())
        .limit(limit)
    )
    rows = conn.execute(q).all()
    return [
        (r.user, float(r.time_limit_s) if r.time_limit_s else float("inf"),
         max(0.0, r.t_end - r.t_start))
        for r in reversed(rows)
    ]


def get_job(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(select(jobs).where(jobs.c.id == job_id)).first()
    return _job(row) if row is not None else None


def query_jobs(
    conn: Connection,
    *,
    ids: Iterable[int] | None = None,
    users: Iterable[str] | None = None,
    states: Iterable[str] | None = None,
    partitions: Iterable[str] | None = None,
    names: Iterable[str] | None = None,
    t_submit_min: float | None = None,
    array_job_ids: Iterable[int] | None = None,
    t_end_min: float | None = None,
    t_submit_max: float | None = None,
    limit: int | None = None,
) -> list[Job]:
    """Jobs matching every given filter (None: no filter; an empty list matches
    nothing), ordered by id, at most `limit`. `t_end_min`: those not ended or ended
    at or after it; `t_submit_max`: submitted at or before it (sacct's window, read
    through the t_end indexes)."""
    conds: list[ColumnElement[bool]] = []
    if ids is not None:
        conds.append(jobs.c.id.in_([int(i) for i in ids]))
    if users is not None:
        conds.append(jobs.c.user.in_(list(users)))
    if states is not None:
        conds.append(jobs.c.state.in_([str(s) for s in states]))
    if partitions is not None:
        conds.append(jobs.c.partition.in_(list(partitions)))
    if names is not None:
        conds.append(jobs.c.name.in_(list(names)))
    if t_submit_min is not None:
        conds.append(jobs.c.t_submit >= t_submit_min)
    if array_job_ids is not None:
        conds.append(jobs.c.array_job_id.in_([int(i) for i in array_job_ids]))
    if t_submit_max is not None:
        conds.append(jobs.c.t_submit <= t_submit_max)
    ended = [jobs.c.t_end >= t_end_min] if t_end_min is not None else []
    if t_end_min is not None and t_submit_max is not None:
        # no job took longer than this from submit to end: an upper bound on t_end too
        span = get_meta(conn, MAX_SPAN_KEY)
        if span is not None:
            ended.append(jobs.c.t_end <= t_submit_max + float(span))
    q = select(jobs).where(*conds)
    if limit is not None:
        q = q.limit(limit)
    if t_end_min is None:
        return _fetch(conn, q)
    # two index range reads (ended since, not ended) rather than one scan for the OR
    # (sorted here: an ORDER BY id would have SQLite scan the table in id order)
    if limit is not None:  # the lowest ids of each: in id order
        found = _fetch(conn, q.where(*ended)) + \
            _fetch(conn, q.where(jobs.c.t_end.is_(None)))
    else:
        found = [_job(r) for r in conn.execute(q.where(*ended))] + \
            [_job(r) for r in conn.execute(q.where(jobs.c.t_end.is_(None)))]
    found.sort(key=lambda j: j.id)
    return found[:limit] if limit is not None else found


def insert_history(conn: Connection, batch: Sequence[Job]) -> list[int]:
    """Insert jobs that ended elsewhere or before (an import of finished history)
    under a block of fresh ids, in one executemany and without submit events;
    -> their ids, in input order."""
    if not batch:
        return []
    first = reserve_id_block(conn, jobs.c.id, len(batch))
    rows = []
    for i, job in enumerate(batch):
        row = _insert_values(job, spec_dict(job.spec))
        row["id"] = first + i
        rows.append(row)
    conn.execute(insert(jobs), rows)
    return [first + i for i in range(len(batch))]
