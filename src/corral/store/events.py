"""The event log: append, read, replay (docs/specs/01-job-states.md §3)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select

from corral.model.event import Event, EventKind
from corral.model.json_codec import dumps_str
from corral.store.schema import events

# The kinds whose to_state moves the job; replay_states folds exactly these.
STATE_KINDS = frozenset(
    {EventKind.SUBMIT, EventKind.STATE, EventKind.REQUEUE, EventKind.HOLD, EventKind.RELEASE}
)


def event_row(
    job_id: int | None,
    t: float,
    kind: EventKind,
    from_state: str | None = None,
    to_state: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of one events row (without seq, which the database assigns)."""
    return {
        "job_id": job_id,
        "t": t,
        "kind": str(kind),
        "from_state": None if from_state is None else str(from_state),
        "to_state": None if to_state is None else str(to_state),
        "data": dumps_str(dict(data or {}), sort_keys=True),
    }


def append_event(
    conn: Connection,
    job_id: int | None,
    t: float,
    kind: EventKind,
    from_state: str | None = None,
    to_state: str | None = None,
    data: dict[str, Any] | None = None,
) -> int:
    """Append one event in the caller's transaction; returns its seq."""
    row = event_row(job_id, t, kind, from_state, to_state, data)
    seq = conn.execute(insert(events).returning(events.c.seq), row).scalar_one()
    return int(seq)


_INSERT = insert(events)  # built once: every state change appends through it


def append_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append many event rows (from event_row) in one executemany."""
    if rows:
        conn.execute(_INSERT, [dict(r) for r in rows])


def _event(row: RowMapping) -> Event:
    # By mapping: Row.t is SQLAlchemy's tuple accessor, not the column.
    return Event(
        seq=int(row["seq"]),
        job_id=row["job_id"],
        t=float(row["t"]),
        kind=EventKind(row["kind"]),
        from_state=row["from_state"],
        to_state=row["to_state"],
        data=json.loads(row["data"]) if row["data"] else {},
    )


def job_events(conn: Connection, job_id: int) -> list[Event]:
    """Every event of one job, oldest first."""
    q = select(events).where(events.c.job_id == job_id).order_by(events.c.seq)
    return [_event(r) for r in conn.execute(q).mappings()]


def events_since(conn: Connection, seq: int, limit: int = 1000) -> list[Event]:
    """Events with seq > `seq`, oldest first, at most `limit` (a follower's cursor)."""
    q = select(events).where(events.c.seq > seq).order_by(events.c.seq).limit(limit)
    return [_event(r) for r in conn.execute(q).mappings()]


# built once: the leader's every commit reads it (Writer._commit)
_LAST_SEQ = select(func.coalesce(func.max(events.c.seq), 0))


def last_seq(conn: Connection) -> int:
    """The newest seq, 0 when the log is empty."""
    return int(conn.execute(_LAST_SEQ).scalar_one())


def replay_states(log: Iterable[Event]) -> dict[int, str]:
    """Fold the log into each job's current state: the last to_state of its
    submit/state/requeue/hold/release events, taken in seq order."""
    states: dict[int, str] = {}
    for ev in sorted(log, key=lambda e: e.seq):
        if ev.job_id is not None and ev.to_state is not None and ev.kind in STATE_KINDS:
            states[ev.job_id] = ev.to_state
    return states
