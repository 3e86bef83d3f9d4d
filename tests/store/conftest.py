"""Store fixtures: every test runs on SQLite (a file in tmp_path) and on PostgreSQL
(a fresh schema in the shared `test` database, dropped afterwards).

PostgreSQL unreachable is a failure, unless CORRAL_TEST_NO_PG=1 (then those runs skip).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from corral.model.job import Job, JobSpec
from corral.model.states import JobState
from corral.store import make_engine, migrate
from tests.conftest import PG_URL

_pg_checked: list[str | None] = []  # [] unknown, [None] reachable, [msg] unreachable


def _pg_problem() -> str | None:
    if not _pg_checked:
        try:
            probe = create_engine(PG_URL)
            with probe.connect() as conn:
                conn.execute(text("SELECT 1"))
            probe.dispose()
            _pg_checked.append(None)
        except OperationalError as exc:
            _pg_checked.append(f"{exc.orig or exc}".strip().splitlines()[0])
    return _pg_checked[0]


def _require_pg() -> None:
    problem = _pg_problem()
    if problem is None:
        return
    if os.environ.get("CORRAL_TEST_NO_PG") == "1":
        pytest.skip(f"PostgreSQL unreachable at {PG_URL} (CORRAL_TEST_NO_PG=1): {problem}")
    pytest.fail(
        f"PostgreSQL unreachable at {PG_URL}: {problem}\n"
        "Start it, point CORRAL_TEST_PG_URL elsewhere, or set CORRAL_TEST_NO_PG=1 to skip "
        "the PostgreSQL half of the store tests.",
        pytrace=False,
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'corral.db'}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A unique, empty schema name; the schema is dropped after the test."""
    _require_pg()
    name = f"corral_t_{uuid.uuid4().hex[:16]}"
    yield name
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def bare_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """An engine on an empty database of each backend (not migrated)."""
    if request.param == "sqlite":
        engine = make_engine(request.getfixturevalue("sqlite_url"))
    else:
        engine = make_engine(PG_URL, schema=request.getfixturevalue("pg_schema"))
    yield engine
    engine.dispose()


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    """A migrated engine of each backend."""
    migrate(bare_engine)
    return bare_engine


def make_job(**kw: object) -> Job:
    """A plausible job; keyword arguments override Job fields, `spec` a JobSpec."""
    spec = JobSpec(name="hello", working_dir="/home/alice", argv=("/bin/true",))
    fields: dict[str, object] = {
        "id": 0,
        "spec": spec,
        "user": "alice",
        "uid": 1000,
        "gid": 1000,
        "state": JobState.PENDING,
        "t_submit": 1_700_000_000.25,
        "partition": "debug",
        "time_limit_s": 3600,
        "mem_mb_per_node": 1024,
    }
    fields.update(kw)
    return Job(**fields)  # type: ignore[arg-type]
