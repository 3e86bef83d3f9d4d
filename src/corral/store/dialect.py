"""The dialect-specific SQL, all in one place (SQLite and PostgreSQL in lockstep)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, func, text
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


def insert_new(conn: Connection, table: Table, values: Mapping[str, Any],
               keys: Sequence[str]) -> bool:
    """INSERT … ON CONFLICT (keys) DO NOTHING; True when the row was inserted."""
    stmt = _insert_new_stmt(conn.dialect.name, table, tuple(keys))
    return conn.execute(stmt, dict(values)).first() is not None


# (dialect, table, keys) -> the statement: built once, its values given at execution
# (building and hashing a statement with its values inline costs more than executing
# it; an idempotency key is written on every keyed submit)
_INSERT_NEW: dict[tuple[str, Table, tuple[str, ...]], Any] = {}


def _insert_new_stmt(name: str, table: Table, keys: tuple[str, ...]) -> Any:
    stmt = _INSERT_NEW.get((name, table, keys))
    if stmt is None:
        if name == "sqlite":
            stmt = sqlite.insert(table)
        elif name == "postgresql":
            stmt = postgresql.insert(table)
        else:  # pragma: no cover - only the two dialects above are supported
            raise NotImplementedError(f"insert_new on {name}")
        stmt = (stmt.on_conflict_do_nothing(index_elements=list(keys))
                .returning(table.c[keys[0]]))
        _INSERT_NEW[(name, table, keys)] = stmt
    return stmt


def can_batch_returning(conn: Connection) -> bool:
    """True when one executemany INSERT … RETURNING gives the ids in parameter order."""
    return bool(conn.dialect.insert_executemany_returning_sort_by_parameter_order)


def reserve_ids(conn: Connection, column: Column[Any], n: int) -> list[int] | None:
    """On PostgreSQL: take `n` values from the column's sequence, ascending, so a batch
    can be inserted with a plain (pipelined) executemany. None elsewhere: use RETURNING.

    Why: INSERT … RETURNING over many rows renders one huge statement whose client-side
    parameter conversion in psycopg costs more than the round trips it saves."""
    if conn.dialect.name != "postgresql":
        return None
    table = column.table
    assert isinstance(table, Table)
    rows = conn.execute(
        text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n)"),
        {"t": table.name, "c": column.name, "n": n},
    ).scalars().all()
    return sorted(int(v) for v in rows)


def reserve_id_block(conn: Connection, column: Column[Any], n: int) -> int:
    """Take `n` consecutive values of an autoincrement key without inserting rows
    (an array's task ids, for rows written later); returns the first. Works in the
    caller's transaction on SQLite; on PostgreSQL the sequence moves at once (a
    rolled-back block is a gap, as with any sequence)."""
    table = column.table
    assert isinstance(table, Table)
    if conn.dialect.name == "sqlite":
        last = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"),
                            {"t": table.name}).scalar()
        if last is None:
            top = conn.execute(text(f'SELECT max("{column.name}") FROM "{table.name}"'))
            last = top.scalar() or 0
            conn.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :s)"),
                         {"t": table.name, "s": int(last) + n})
        else:
            conn.execute(text("UPDATE sqlite_sequence SET seq = :s WHERE name = :t"),
                         {"t": table.name, "s": int(last) + n})
        return int(last) + 1
    if conn.dialect.name == "postgresql":
        first = conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, :c))"),
                             {"t": table.name, "c": column.name}).scalar_one()
        if n > 1:
            conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, :c), :v)"),
                         {"t": table.name, "c": column.name, "v": int(first) + n - 1})
        return int(first)
    raise NotImplementedError(f"id blocks on {conn.dialect.name}")  # pragma: no cover


def upsert_add(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]],
               keys: Sequence[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET c = c + excluded.c for every other
    column (a NULL on either side keeps the other: a sum of what is known)."""
    if not rows:
        return
    name = conn.dialect.name
    if name == "sqlite":
        stmt: Any = sqlite.insert(table)
    elif name == "postgresql":
        stmt = postgresql.insert(table)
    else:  # pragma: no cover - only the two dialects above are supported
        raise NotImplementedError(f"upsert_add on {name}")
    cols = [c for c in rows[0] if c not in keys]
    set_ = {c: func.coalesce(table.c[c] + stmt.excluded[c], table.c[c], stmt.excluded[c])
            for c in cols}
    conn.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=set_),
                 list(rows))
