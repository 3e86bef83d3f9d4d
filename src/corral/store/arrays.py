"""Array rests: the one row that stands for an array's tasks not yet started
(docs/specs/04-store.md §1). Every function works in the caller's transaction.

A task leaves the rest by getting its own `jobs` row (with its reserved id); so the
rest is, at any time, the array's tasks minus those that have a `jobs` row, and a
task's move out of the rest is exactly as durable as its row.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update

from corral.model.arrays import parse_array_cached, task_index
from corral.model.event import EventKind
from corral.model.intent import parse_intent
from corral.model.job import Job, JobSpec
from corral.model.record import spec_dict, submit_data
from corral.model.states import JobState
from corral.store.dialect import reserve_id_block
from corral.store.events import append_events, event_row
from corral.store.jobs import insert_job_with_id
from corral.store.schema import arrays, jobs

WAITING = (str(JobState.PENDING), str(JobState.HELD))


def _values(tmpl: Job) -> dict[str, Any]:
    return {
        "state": str(tmpl.state), "reason": tmpl.reason,
        "intent": str(tmpl.intent) if tmpl.intent is not None else None,
        "partition": tmpl.partition,
        "name": tmpl.spec.name, "account": tmpl.spec.account,
        "time_limit_s": tmpl.time_limit_s, "mem_mb_per_node": tmpl.mem_mb_per_node,
        "t_end": tmpl.t_end, "priority": tmpl.priority,
        "spec": json.dumps(spec_dict(tmpl.spec), separators=(",", ":"), sort_keys=True),
    }


def insert_array(conn: Connection, tmpl: Job, tasks: int,
                 data: dict[str, Any] | None = None) -> int:
    """Reserve the ids of `tasks` tasks and write the rest's row and its submit event
    (its data `data`, the submit command's, with the array's id; or the template's);
    returns the array's id (its first task's job id)."""
    first = reserve_id_block(conn, jobs.c.id, tasks)
    conn.execute(insert(arrays), {"id": first, "tasks": tasks, "user": tmpl.user,
                                  "uid": tmpl.uid, "gid": tmpl.gid,
                                  "t_submit": tmpl.t_submit, **_values(tmpl)})
    if data is None:
        data = {"tasks": tasks, **submit_data(tmpl)}
    append_events(conn, [event_row(None, tmpl.t_submit, EventKind.SUBMIT, None,
                                   str(tmpl.state), {**data, "array_id": first})])
    return first


def save_array(conn: Connection, tmpl: Job) -> None:
    conn.execute(update(arrays).where(arrays.c.id == tmpl.id).values(**_values(tmpl)))


def delete_array(conn: Connection, array_id: int) -> None:
    conn.execute(delete(arrays).where(arrays.c.id == array_id))


def insert_task(conn: Connection, job: Job) -> None:
    """A task leaves the rest: its own row (with its reserved id) and submit event."""
    insert_job_with_id(conn, job, data={"array_id": job.array_job_id,
                                        "array_task_id": job.array_task_id})


def _template(row: Any) -> Job:
    return Job(
        id=int(row.id), spec=JobSpec.from_dict(json.loads(row.spec)), user=row.user,
        uid=int(row.uid), gid=int(row.gid), state=JobState(row.state),
        t_submit=float(row.t_submit), partition=row.partition,
        time_limit_s=int(row.time_limit_s), mem_mb_per_node=row.mem_mb_per_node,
        reason=row.reason, intent=parse_intent(row.intent), t_end=row.t_end,
        priority=float(row.priority),
        array_job_id=int(row.id),
    )


def load_arrays(conn: Connection, *, ended_holding: Sequence[int] | None = None
                ) -> list[tuple[Job, list[int]]]:
    """Every waiting rest: its template and the task indices that have left it. With
    `ended_holding`: instead the ended (cancelled, failed) rests holding any of these
    job ids (history)."""
    q = select(arrays).where(arrays.c.state.in_(WAITING))
    if ended_holding is not None:
        q = select(arrays).where(arrays.c.state.not_in(WAITING), or_(*(
            (arrays.c.id <= i) & (arrays.c.id + arrays.c.tasks > i)
            for i in ended_holding)))
    out = []
    for row in conn.execute(q.order_by(arrays.c.id)):
        tmpl = _template(row)
        assert tmpl.spec.array is not None
        n = len(parse_array_cached(tmpl.spec.array).task_ids)
        taken = [task_index(tmpl.id, n, int(i)) for i in conn.execute(
            select(jobs.c.id).where(jobs.c.array_job_id == tmpl.id)).scalars()]
        out.append((tmpl, [i for i in taken if i is not None]))
    return out


def get_array(conn: Connection, array_id: int) -> Job | None:
    """A rest in any state (history: a cancelled rest stays as one row)."""
    row = conn.execute(select(arrays).where(arrays.c.id == array_id)).first()
    return _template(row) if row is not None else None


def query_arrays(conn: Connection, *, ids: list[int] | None = None,
                 users: list[str] | None = None) -> list[Job]:
    q = select(arrays)
    if ids is not None:
        q = q.where(arrays.c.id.in_(ids))
    if users is not None:
        q = q.where(arrays.c.user.in_(users))
    return [_template(r) for r in conn.execute(q.order_by(arrays.c.id))]


def rest_task(conn: Connection, job_id: int) -> Job | None:
    """A task id that never got a row of its own: the task as its array's rest ended
    (cancelled, or failed on a dependency) or stands."""
    row = conn.execute(select(arrays).where(arrays.c.id <= job_id,
                                            arrays.c.id + arrays.c.tasks > job_id)
                       .order_by(arrays.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    tmpl = _template(row)
    assert tmpl.spec.array is not None
    ids = parse_array_cached(tmpl.spec.array).task_ids
    index = task_index(tmpl.id, len(ids), job_id)
    if index is None:
        return None
    task = ids[index]
    return dataclasses.replace(tmpl, id=job_id, array_task_id=task)
