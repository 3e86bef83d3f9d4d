"""Idempotency keys of submissions, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Engine, select

from corral.model.job import JobSpec
from corral.store import jobs as store_jobs
from corral.store import migrate
from corral.store.arrays import insert_array
from corral.store.schema import jobs
from corral.store.submit_keys import lookup_key, record_key
from tests.store.conftest import make_job


def test_a_key_names_one_job_per_uid(engine: Engine) -> None:
    with engine.begin() as conn:
        job_id = store_jobs.insert_job(conn, make_job())
        assert record_key(conn, 1000, "k1", job_id, 1, "d" * 64, 1.0)
        # taken already: nothing written, no error (the transaction goes on)
        assert not record_key(conn, 1000, "k1", job_id, 1, "e" * 64, 2.0)
        assert lookup_key(conn, 1000, "k1") == ("d" * 64, [job_id])
        assert lookup_key(conn, 1001, "k1") is None  # another user's key space
        assert lookup_key(conn, 1000, "k2") is None


def test_an_arrays_key_gives_every_task(engine: Engine) -> None:
    with engine.begin() as conn:
        first = insert_array(conn, make_job(spec=JobSpec(
            name="arr", working_dir="/tmp", argv=("true",), array="0-2")), 3)
        record_key(conn, 1000, "arr", first, 3, "d" * 64, 1.0)
    with engine.connect() as conn:
        assert lookup_key(conn, 1000, "arr") == ("d" * 64, [first + 1, first + 2, first])


def test_upgrade_from_0002_keeps_the_jobs(bare_engine: Engine) -> None:
    migrate(bare_engine, "0002")
    with bare_engine.begin() as conn:
        conn.execute(jobs.insert().values(
            user="alice", uid=1000, gid=1000, state="PENDING", partition="main", name="old",
            time_limit_s=60, t_submit=1.0, spec="{}"))
    migrate(bare_engine)
    with bare_engine.begin() as conn:
        old = conn.execute(select(jobs.c.id)).scalar_one()
        assert record_key(conn, 1000, "k", old, 1, "d" * 64, 1.0)
        assert lookup_key(conn, 1000, "k") == ("d" * 64, [old])
