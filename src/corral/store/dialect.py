"""The dialect-specific SQL, all in one place (SQLite and PostgreSQL in lockstep)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(conn: Connection, table: Table, values: Mapping[str, Any], keys: Sequence[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET every other given column."""
    name = conn.dialect.name
    if name == "sqlite":
        sq = sqlite.insert(table).values(**values)
        conn.execute(sq.on_conflict_do_update(
            index_elements=list(keys),
            set_={k: sq.excluded[k] for k in values if k not in keys},
        ))
    elif name == "postgresql":
        pg = postgresql.insert(table).values(**values)
        conn.execute(pg.on_conflict_do_update(
            index_elements=list(keys),
            set_={k: pg.excluded[k] for k in values if k not in keys},
        ))
    else:  # pragma: no cover - only the two dialects above are supported
        raise NotImplementedError(f"upsert on {name}")


def can_batch_returning(conn: Connection) -> bool:
    """True when one executemany INSERT … RETURNING gives the ids in parameter order."""
    return bool(conn.dialect.insert_executemany_returning_sort_by_parameter_order)
