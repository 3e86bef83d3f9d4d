"""Job rows on both backends: round trip, ids, batches, atomicity, queries."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from corral.model.errors import NotFound
from corral.model.event import EventKind
from corral.model.intent import StopIntent
from corral.model.job import JobSpec
from corral.model.record import spec_dict
from corral.model.states import JobState
from corral.store import (
    engine_schema,
    get_job,
    insert_job,
    insert_jobs,
    job_events,
    load_jobs,
    query_jobs,
    save_job,
)
from corral.store.schema import events, jobs
from tests.store.conftest import make_job

FULL_SPEC = JobSpec(
    name="big run ü",
    working_dir="/scratch/bob",
    script="#!/bin/sh\necho 'hi' \"there\"\n",
    argv=(),
    environment={"PATH": "/usr/bin", "OMP_NUM_THREADS": "4", "EMPTY": ""},
    stdout="out-%j.txt",
    stderr="err-%j.txt",
    partition="gpu",
    account="physics",
    nodes=2,
    cpus_per_node=8,
    mem_mb_per_node=16384,
    gpus_per_node=2,
    time_limit_s=7200,
    nice=5,
    priority=100,
    hold=True,
    t_begin=1_700_000_100.5,
    requeue=False,
    features=("avx512", "ib"),
)


def test_round_trip_every_field(engine: Engine) -> None:
    job = make_job(spec=FULL_SPEC, user="bob", uid=1001, gid=2002, state=JobState.HELD,
                   partition="gpu", time_limit_s=7200, mem_mb_per_node=16384,
                   t_submit=1_700_000_000.125, reason="JobHeldAdmin",
                   intent=StopIntent.HOLD_ADMIN)
    with engine.begin() as conn:
        job.id = insert_job(conn, job)
    with engine.connect() as conn:
        assert get_job(conn, job.id) == job
    job.state = JobState.COMPLETED
    job.reason, job.intent = "None", None
    job.t_start = 1_700_000_200.5
    job.t_end = 1_700_003_000.75
    job.nodes = ("n01", "n02")
    job.exit_code = 0
    job.signal = 15
    job.cpu_time_s = 12345.5
    job.max_rss_mb = 812.25
    job.restarts = 2
    job.priority = 0.123456789
    with engine.begin() as conn:
        save_job(conn, job)
    with engine.connect() as conn:
        loaded = get_job(conn, job.id)
    assert loaded == job
    assert loaded is not None and isinstance(loaded.state, JobState)
    assert loaded.spec == FULL_SPEC


def test_round_trip_defaults_and_nones(engine: Engine) -> None:
    job = make_job(mem_mb_per_node=None, time_limit_s=0)
    with engine.begin() as conn:
        job.id = insert_job(conn, job)
    with engine.connect() as conn:
        assert get_job(conn, job.id) == job
        assert get_job(conn, job.id + 1000) is None


def test_ids_increase_from_one(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = [insert_job(conn, make_job(id=999)) for _ in range(3)]
    with engine.begin() as conn:
        ids.append(insert_job(conn, make_job()))
    assert ids == [1, 2, 3, 4]


def test_insert_appends_submit_event(engine: Engine) -> None:
    job = make_job(spec=FULL_SPEC, state=JobState.HELD)
    with engine.begin() as conn:
        job_id = insert_job(conn, job)
    with engine.connect() as conn:
        (ev,) = job_events(conn, job_id)
    assert ev.kind is EventKind.SUBMIT
    assert (ev.job_id, ev.from_state, ev.to_state) == (job_id, None, "HELD")
    assert ev.t == job.t_submit
    assert JobSpec.from_dict(ev.data) == FULL_SPEC


def test_batch_insert_returns_ids_in_order(engine: Engine) -> None:
    batch = [make_job(spec=JobSpec(name=f"j{i}", working_dir="/w"), user=f"u{i % 3}")
             for i in range(250)]
    with engine.begin() as conn:
        first = insert_job(conn, make_job())
        ids = insert_jobs(conn, batch)
        assert insert_jobs(conn, []) == []
    assert ids == list(range(first + 1, first + 251))
    with engine.connect() as conn:
        for job_id, job in zip(ids, batch, strict=True):
            stored = get_job(conn, job_id)
            assert stored is not None and stored.name == job.name and stored.user == job.user
        submit_events = conn.execute(
            select(events.c.job_id).where(events.c.kind == "submit").order_by(events.c.seq)
        ).scalars().all()
    assert submit_events == [first, *ids]


def test_rolled_back_transaction_leaves_neither_job_nor_event(engine: Engine) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), engine.begin() as conn:
        insert_job(conn, make_job())
        insert_jobs(conn, [make_job(), make_job()])
        raise Boom
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 0


def test_save_unknown_job_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound, match="job 42"), engine.begin() as conn:
        save_job(conn, make_job(id=42))


def _seed(engine: Engine) -> list[int]:
    rows = [
        make_job(user="alice", partition="debug", t_submit=100.0,
                 spec=JobSpec(name="a", working_dir="/w")),
        make_job(user="bob", partition="gpu", t_submit=200.0,
                 spec=JobSpec(name="b", working_dir="/w")),
        make_job(user="alice", partition="gpu", t_submit=300.0,
                 spec=JobSpec(name="a", working_dir="/w")),
        make_job(user="carol", partition="debug", t_submit=400.0,
                 spec=JobSpec(name="c", working_dir="/w")),
    ]
    with engine.begin() as conn:
        ids = insert_jobs(conn, rows)
        rows[1].id, rows[1].state, rows[1].t_start = ids[1], JobState.RUNNING, 250.0
        save_job(conn, rows[1])
        rows[2].id, rows[2].state, rows[2].t_end = ids[2], JobState.COMPLETED, 350.0
        save_job(conn, rows[2])
        rows[3].id, rows[3].state, rows[3].t_end = ids[3], JobState.FAILED, 450.0
        save_job(conn, rows[3])
    return ids


def test_query_filters(engine: Engine) -> None:
    a, b, c, d = _seed(engine)
    with engine.connect() as conn:
        def q(**kw: object) -> list[int]:
            return [j.id for j in query_jobs(conn, **kw)]  # type: ignore[arg-type]

        assert q() == [a, b, c, d]
        assert q(ids=[d, a, 999]) == [a, d]
        assert q(users=["alice"]) == [a, c]
        assert q(states=[JobState.RUNNING, "FAILED"]) == [b, d]
        assert q(partitions=["gpu"]) == [b, c]
        assert q(names=["a"]) == [a, c]
        assert q(t_submit_min=200.0) == [b, c, d]
        assert q(users=["alice"], partitions=["gpu"]) == [c]
        assert q(limit=2) == [a, b]
        assert q(users=[]) == []
        # sacct's window: not ended or ended since; submitted before
        assert q(t_end_min=340.0) == [a, b, c, d]
        assert q(t_end_min=351.0) == [a, b, d]
        assert q(t_submit_max=250.0) == [a, b]
        assert q(t_end_min=351.0, t_submit_max=300.0) == [a, b]
        assert q(t_end_min=0.0, t_submit_max=300.0, limit=2) == [a, b]


def test_load_jobs_filters(engine: Engine) -> None:
    a, b, c, d = _seed(engine)
    with engine.connect() as conn:
        assert [j.id for j in load_jobs(conn)] == [a, b, c, d]
        assert [j.id for j in load_jobs(conn, unfinished_only=True)] == [a, b]
        assert [j.id for j in load_jobs(conn, since_t_end=400.0)] == [a, b, d]
        assert [j.id for j in load_jobs(conn, since_t_end=0.0)] == [a, b, c, d]


def test_fast_spec_dict_agrees_with_the_model() -> None:
    for spec in (FULL_SPEC, JobSpec(name="x", working_dir="/")):
        assert spec_dict(spec) == spec.to_dict()


_KILLED_WRITER = """
import os, signal, sys
from corral.store import make_engine, insert_job
from tests.store.conftest import make_job
engine = make_engine(sys.argv[1], schema=sys.argv[2] or None)
with engine.begin() as conn:
    job_id = insert_job(conn, make_job())
print(job_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no clean shutdown, no checkpoint
"""


def test_committed_job_survives_kill_9(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, url, engine_schema(engine) or ""],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2],
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    job_id = int(proc.stdout.strip())
    with engine.connect() as conn:
        assert get_job(conn, job_id) is not None
        assert [e.kind for e in job_events(conn, job_id)] == [EventKind.SUBMIT]
