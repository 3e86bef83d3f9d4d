"""Rows gathered over one write transaction and written at its end, one statement a
kind: when a burst of jobs ends in one group commit, their usage records go in as
one insert and their rollups as one upsert, not one set of statements a job.

The writer (services/writer.py) opens the gathering with `begin` and writes it with
`finish` before the transaction commits; outside such a transaction `defer` writes
at once, so an op run on a plain connection loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

KEY = "corral.deferred"

Flush = Callable[[Connection, list[Any]], None]


def defer(conn: Connection, flush: Flush, rows: Sequence[Any]) -> None:
    """Have `flush(conn, rows)` write these rows, with every other row deferred to the
    same `flush` in this transaction, at its end."""
    pending: dict[Flush, list[Any]] | None = conn.info.get(KEY)
    if pending is None:
        flush(conn, list(rows))
        return
    pending.setdefault(flush, []).extend(rows)


def begin(conn: Connection) -> None:
    conn.info[KEY] = {}


def finish(conn: Connection) -> None:
    """Write what was deferred (in the order each kind was first deferred)."""
    pending: dict[Flush, list[Any]] = conn.info.pop(KEY, None) or {}
    for flush, rows in pending.items():
        flush(conn, rows)


def abandon(conn: Connection) -> None:
    """The transaction failed: forget what it deferred."""
    conn.info.pop(KEY, None)
