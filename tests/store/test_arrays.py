"""Array rests on both backends: a block of ids reserved, tasks leaving the rest as
rows of their own, the rest reloaded as 'the array minus its rows'."""

from __future__ import annotations

import dataclasses

from sqlalchemy import Engine, func, select

from corral.model.arrays import ArrayRest
from corral.model.job import JobSpec
from corral.model.states import JobState
from corral.store import arrays as store_arrays
from corral.store import get_job, insert_job, job_events
from corral.store.schema import events, jobs
from tests.store.conftest import make_job

SPEC = JobSpec(name="arr", working_dir="/home/alice", argv=("/bin/true",), array="0-99999%4")


def test_an_array_is_one_row_and_its_ids_are_reserved(engine: Engine) -> None:
    with engine.begin() as conn:
        before = insert_job(conn, make_job())
        tmpl = make_job(spec=SPEC)
        first = store_arrays.insert_array(conn, tmpl, 100_000)
        after = insert_job(conn, make_job())
    assert first == before + 1 and after == first + 100_000  # a block, never reused
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(jobs)).scalar_one() == 2
        submit = conn.execute(select(events.c.data).where(events.c.job_id.is_(None))
                              ).scalar_one()
        assert f'"array_id":{first}' in submit and '"tasks":100000' in submit
        ((loaded, taken),) = store_arrays.load_arrays(conn)
    assert loaded.id == first and loaded.spec == SPEC and taken == []


def test_tasks_leave_the_rest_as_rows_and_the_rest_reloads_without_them(
        engine: Engine) -> None:
    with engine.begin() as conn:
        tmpl = make_job(spec=SPEC)
        first = store_arrays.insert_array(conn, tmpl, 100_000)
    tmpl = dataclasses.replace(tmpl, id=first, array_job_id=first)
    rest = ArrayRest(tmpl)
    started = [rest.take(i) for i in (0, 1, 5)]
    with engine.begin() as conn:
        for job in started:
            store_arrays.insert_task(conn, job)
        tmpl.state, tmpl.reason = JobState.HELD, "JobHeldUser"
        store_arrays.save_array(conn, tmpl)
    with engine.connect() as conn:
        ((loaded, taken),) = store_arrays.load_arrays(conn)
        task5 = get_job(conn, first + 6)  # task index 5: the array's id + 6
        assert [e.kind for e in job_events(conn, first + 6)] == ["submit"]
        pending = store_arrays.rest_task(conn, first + 99_999)
    assert sorted(taken) == [0, 1, 5] and loaded.state == JobState.HELD
    again = ArrayRest(loaded, taken)
    assert len(again.pending) == 99_997 and again.display_id == f"{first}_[2-4,6-99999%4]"
    assert task5 is not None and (task5.array_job_id, task5.array_task_id) == (first, 5)
    assert pending is not None and pending.array_task_id == 99_998
    with engine.begin() as conn:  # a cancelled rest is history, not reloaded
        tmpl.state = JobState.CANCELLED
        store_arrays.save_array(conn, tmpl)
    with engine.connect() as conn:
        assert store_arrays.load_arrays(conn) == []
        ended = store_arrays.rest_task(conn, first + 7)
    assert ended is not None and ended.state == JobState.CANCELLED
