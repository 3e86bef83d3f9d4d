"""Engines, pragmas and migrations on both backends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from corral.store import current_revision, make_engine, migrate, reading
from corral.store.db import alembic_config
from corral.store.schema import metadata
from tests.conftest import PG_URL


def test_migrate_twice_is_idempotent(bare_engine: Engine) -> None:
    assert current_revision(bare_engine) is None
    migrate(bare_engine)
    migrate(bare_engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None and current_revision(bare_engine) == head
    names = set(inspect(bare_engine).get_table_names())
    assert {"jobs", "events", "nodes", "meta", "arrays", "alembic_version"} <= names


def test_migrated_database_matches_schema_module(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_indexes_exist(engine: Engine) -> None:
    insp = inspect(engine)
    assert {i["name"] for i in insp.get_indexes("jobs")} >= {"ix_jobs_state", "ix_jobs_user"}
    assert "ix_events_job_id" in {i["name"] for i in insp.get_indexes("events")}


def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        pragma = {
            p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
            for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    engine.dispose()
    assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1,
                      "busy_timeout": 30_000}


def test_sqlite_write_transactions_begin_immediate(sqlite_url: str) -> None:
    """A second writer waits at BEGIN (busy_timeout) instead of failing mid-transaction;
    a reader is never blocked by the writer (WAL, deferred BEGIN)."""
    engine = make_engine(sqlite_url, busy_timeout_ms=5_000)
    migrate(engine)
    order: list[str] = []
    with engine.begin() as first:  # holds the write lock from BEGIN on
        first.execute(text("INSERT INTO meta (key, value) VALUES ('a', '1')"))

        def second_writer() -> None:
            with engine.begin() as second:
                order.append("second began")
                second.execute(text("INSERT INTO meta (key, value) VALUES ('b', '2')"))

        t = threading.Thread(target=second_writer)
        t.start()
        time.sleep(0.3)
        with reading(engine) as reader:
            assert reader.execute(text("SELECT count(*) FROM meta")).scalar() == 0
        order.append("first commits")
    t.join(10)
    assert order == ["first commits", "second began"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM meta")).scalar() == 2
    engine.dispose()


def test_sqlite_rejects_schema(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PostgreSQL only"):
        make_engine(f"sqlite:///{tmp_path / 'x.db'}", schema="nope")


def test_unsupported_url() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        make_engine("mysql://localhost/x")


@pytest.mark.pg
def test_pg_schema_from_url(pg_schema: str) -> None:
    engine = make_engine(f"{PG_URL}?schema={pg_schema}")
    migrate(engine)
    with engine.connect() as conn:
        where = conn.execute(text(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'jobs' "
            "AND table_schema = :s"), {"s": pg_schema}).scalar()
    engine.dispose()
    assert where == pg_schema


def test_pg_schema_must_be_identifier() -> None:
    with pytest.raises(ValueError, match="plain identifier"):
        make_engine(PG_URL, schema='x"; DROP TABLE jobs; --')


def test_sqlite_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It holds every job's script and environment; -wal and -shm take its mode."""
    fresh = tmp_path / "new.db"
    engine = make_engine(f"sqlite:///{fresh}")
    migrate(engine)
    engine.dispose()
    old = tmp_path / "old.db"
    old.touch(mode=0o644)
    old.chmod(0o644)  # as an older version left it
    make_engine(f"sqlite:///{old}").dispose()
    for p in (fresh, old, *tmp_path.glob("*-wal")):
        assert p.stat().st_mode & 0o777 == 0o600, p


def test_migration_0012_reads_intents_from_reasons(bare_engine: Engine) -> None:
    """Holds and runs being stopped before the intent column existed keep their
    meaning: it is read from the reason they show."""
    migrate(bare_engine, "0011_associations")
    rows = [(1, "HELD", "JobHeldAdmin"), (2, "HELD", "JobHeldUser"),
            (3, "HELD", "SchedulingFailed: boom"), (4, "COMPLETING", "Cancelled"),
            (5, "RUNNING", "RequeueHold"), (6, "COMPLETING", "Preempted"),
            (7, "RUNNING", "PrologFailed"), (8, "PENDING", "Priority"),
            (9, "FAILED", "Cancelled")]
    with bare_engine.begin() as conn:
        for job_id, state, reason in rows:
            conn.execute(text(
                "INSERT INTO jobs (id, \"user\", uid, gid, state, reason, partition, name, "
                "time_limit_s, t_submit, spec) VALUES (:i, 'u', 1, 1, :s, :r, 'p', 'n', 0, "
                "0, '{}')"), {"i": job_id, "s": state, "r": reason})
    migrate(bare_engine)
    with bare_engine.connect() as conn:
        got = {int(r.id): r.intent
               for r in conn.execute(text("SELECT id, intent FROM jobs ORDER BY id"))}
    assert got == {1: "hold_admin", 2: "hold_user", 3: "hold_scheduler", 4: "cancel",
                   5: "requeue_hold", 6: "preempt_cancel", 7: "prolog_failed_elsewhere",
                   8: None, 9: None}
