"""The job credentials' table (services/credentials.py keeps them in memory too).

The tokens arrive here sealed; this module never sees them in clear."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, insert, select, update

from corral.store.schema import credentials

COLUMNS = tuple(c.name for c in credentials.columns)


def add(conn: Connection, row: Mapping[str, Any]) -> int:
    """Store a new credential -> its id."""
    return int(conn.execute(insert(credentials).returning(credentials.c.id),
                            dict(row)).scalar_one())


def rotate(conn: Connection, cred_id: int, old_refresh_sealed: str,
           values: Mapping[str, Any]) -> bool:
    """Replace a credential's tokens in one statement, only if its refresh token is
    still the one the renewal started from (a second controller may have renewed it
    meanwhile) -> whether it was replaced."""
    r = conn.execute(update(credentials)
                     .where(credentials.c.id == cred_id,
                            credentials.c.refresh_sealed == old_refresh_sealed)
                     .values(**values))
    return r.rowcount == 1


def set_state(conn: Connection, cred_id: int, state: str, reason: str, t: float) -> None:
    conn.execute(update(credentials).where(credentials.c.id == cred_id)
                 .values(state=state, reason=reason, t_updated=t))


def load(conn: Connection, *, states: tuple[str, ...] = ("active",)) -> list[dict[str, Any]]:
    q = select(credentials).where(credentials.c.state.in_(list(states)))
    return [dict(r) for r in conn.execute(q.order_by(credentials.c.id)).mappings().all()]


def get(conn: Connection, cred_id: int) -> dict[str, Any] | None:
    r = conn.execute(select(credentials).where(credentials.c.id == cred_id)).mappings().first()
    return dict(r) if r is not None else None
