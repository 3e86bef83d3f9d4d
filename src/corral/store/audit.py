"""The audit trail's table: append entries, query them (services/audit.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from corral.store.schema import audit

COLUMNS = ("seq", "t", "user", "uid", "role", "subject", "issuer", "origin", "action",
           "job_id", "target", "request", "status", "result", "request_id")


def append_entries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append entries (column -> value; `request` already JSON) in one executemany."""
    if rows:
        conn.execute(insert(audit), [dict(r) for r in rows])


def query(conn: Connection, *, users: Sequence[str] = (), uid: int | None = None,
          job_id: int | None = None, actions: Sequence[str] = (),
          since: float | None = None, until: float | None = None,
          limit: int = 1000) -> list[dict[str, Any]]:
    """Entries matching every filter given, oldest first: the newest `limit` of them."""
    q = select(audit)
    if users:
        q = q.where(audit.c.user.in_(list(users)))
    if uid is not None:
        q = q.where(audit.c.uid == uid)
    if job_id is not None:
        q = q.where(audit.c.job_id == job_id)
    if actions:
        q = q.where(audit.c.action.in_(list(actions)))
    if since is not None:
        q = q.where(audit.c.t >= since)
    if until is not None:
        q = q.where(audit.c.t <= until)
    rows = conn.execute(q.order_by(audit.c.seq.desc()).limit(limit)).mappings().all()
    out = []
    for r in reversed(rows):
        d = {c: r[c] for c in COLUMNS}
        d["request"] = json.loads(d["request"]) if d["request"] else {}
        out.append(d)
    return out


def prune(conn: Connection, *, before: float) -> int:
    """Remove the entries recorded before `before` (epoch s) -> how many."""
    return int(conn.execute(delete(audit).where(audit.c.t < before)).rowcount)
