"""Engines and migrations (docs/specs/04-store.md §2-§4).

    engine = make_engine("sqlite:////var/lib/corral/corral.db")
    migrate(engine)
    with engine.begin() as conn:      # one transaction: a state change and its event
        ...

SQLite is set up on every new DBAPI connection: WAL, synchronous=FULL, foreign keys,
busy_timeout, and SQLAlchemy (not pysqlite) emits BEGIN, as BEGIN IMMEDIATE, so a
write transaction takes the write lock at its start instead of failing half-way with
"database is locked". Read-only work can ask for a plain deferred BEGIN with
`reading(engine)`.

PostgreSQL: `postgresql+psycopg://user@host:port/db`, optionally `?schema=NAME` (or
the `schema` argument) to keep corral's tables in their own schema (search_path).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution options understood by the SQLite "begin" hook and by migrate().
READ_ONLY_OPTION = "corral_read_only"
SCHEMA_OPTION = "corral_schema"

DEFAULT_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def make_engine(
    url: str,
    *,
    schema: str | None = None,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    echo: bool = False,
) -> Engine:
    """An Engine for a SQLite file or a PostgreSQL database, set up for corral.

    `schema` (or `?schema=NAME` in a PostgreSQL URL) puts every table in that
    PostgreSQL schema; `migrate()` creates it when missing.
    """
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        if schema is not None or "schema" in u.query:
            raise ValueError(f"{url!r}: a schema applies to PostgreSQL only")
        return _sqlite_engine(u.render_as_string(hide_password=False), busy_timeout_ms, echo)
    if backend == "postgresql":
        if "schema" in u.query:
            q = u.query["schema"]
            url_schema = q if isinstance(q, str) else q[-1]
            if schema is not None and schema != url_schema:
                raise ValueError(
                    f"schema {schema!r} conflicts with ?schema={url_schema} in the URL"
                )
            schema = url_schema
            u = u.difference_update_query(["schema"])
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in u.query:  # a database out of reach: fail, not hang
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        if schema is not None:
            if not _IDENTIFIER.match(schema):
                raise ValueError(
                    f"schema {schema!r} is not a plain identifier (letters, digits, _; "
                    f"at most 63 characters, not starting with a digit)"
                )
            connect_args["options"] = f"-csearch_path={schema}"
        engine = create_engine(u, connect_args=connect_args, pool_pre_ping=True, echo=echo)
        if schema is not None:
            engine = engine.execution_options(**{SCHEMA_OPTION: schema})
        return engine
    raise ValueError(
        f"{url!r}: unsupported database; use sqlite:////abs/path.db or "
        f"postgresql+psycopg://user@host:port/db"
    )


def _keep_private(path: str) -> None:
    """The database holds every job's script and environment: readable by its owner
    only. SQLite gives the -wal and -shm files the database file's mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for p in (path, path + "-wal", path + "-shm"):
        with contextlib.suppress(OSError):  # absent, or not ours to change
            if os.stat(p).st_mode & 0o077:
                os.chmod(p, 0o600)


def _sqlite_engine(url: str, busy_timeout_ms: int, echo: bool) -> Engine:
    engine = create_engine(
        url,
        # pysqlite's own busy handler, in seconds; the pragma below says the same.
        connect_args={"timeout": busy_timeout_ms / 1000},
        echo=echo,
    )
    database = make_url(url).database
    in_memory = database in (None, "", ":memory:")
    if not in_memory and not str(database).startswith("file:"):
        _keep_private(str(database))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Take BEGIN away from pysqlite: it would skip it for SELECT and DDL and never
        # say IMMEDIATE. With isolation_level None the driver is in autocommit until
        # the "begin" hook below emits BEGIN; COMMIT/ROLLBACK still go through it.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        try:
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            # FULL: in WAL mode every commit fsyncs the log, so an acknowledged job
            # survives power loss, not only a crash of the process.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: on SQLite a deferred BEGIN that never takes the
    write lock (WAL readers do not block the writer); elsewhere a plain transaction.
    Writing through it on SQLite may fail with "database is locked"."""
    with engine.connect() as plain:
        conn = plain.execution_options(**{READ_ONLY_OPTION: True})
        with conn.begin():
            yield conn


def engine_schema(engine: Engine) -> str | None:
    """The PostgreSQL schema this engine was made for, if any."""
    value = engine.get_execution_options().get(SCHEMA_OPTION)
    return str(value) if value is not None else None


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic Config built in code: no alembic.ini needed at run time."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False)
                            .replace("%", "%%"))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (Alembic upgrade). Safe to run every start."""
    schema = engine_schema(engine)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # controllers started at once on an empty database migrate one at a
            # time: the others wait here, then find it at the head
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                         {"key": f"corral-migrate:{schema or ''}"})
        if schema is not None:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
