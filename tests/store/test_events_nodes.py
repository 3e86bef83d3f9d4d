"""The event log (append, read, replay) and node/meta rows on both backends."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from corral.model.event import Event, EventKind
from corral.model.node import Node
from corral.model.states import JOB_TRANSITIONS, JobState
from corral.store import (
    append_event,
    events_since,
    get_job,
    get_meta,
    insert_jobs,
    job_events,
    last_seq,
    load_jobs,
    load_nodes,
    replay_states,
    save_job,
    set_meta,
    upsert_node,
)
from tests.store.conftest import make_job


def test_append_and_read_events(engine: Engine) -> None:
    with engine.begin() as conn:
        (job_id,) = insert_jobs(conn, [make_job()])
        s1 = append_event(conn, job_id, 10.0, EventKind.STATE, "PENDING", "RUNNING",
                          {"nodes": ["n1"], "why": "scheduled"})
        s2 = append_event(conn, None, 11.0, EventKind.NODE, data={"node": "n1", "up": True})
        s3 = append_event(conn, job_id, 12.5, EventKind.SIGNAL, data={"signal": 10})
    assert s1 < s2 < s3
    with engine.connect() as conn:
        evs = job_events(conn, job_id)
        assert [e.kind for e in evs] == [EventKind.SUBMIT, EventKind.STATE, EventKind.SIGNAL]
        assert evs[1] == Event(s1, job_id, 10.0, EventKind.STATE, "PENDING", "RUNNING",
                               {"nodes": ["n1"], "why": "scheduled"})
        all_events = events_since(conn, 0)
        assert [e.seq for e in all_events] == sorted(e.seq for e in all_events)
        assert len(all_events) == 4 and last_seq(conn) == s3
        assert [e.seq for e in events_since(conn, s1)] == [s2, s3]
        assert [e.seq for e in events_since(conn, 0, limit=2)] == [all_events[0].seq, s1]
        assert events_since(conn, s3) == []


def test_replay_ignores_events_without_a_state_move() -> None:
    log = [
        Event(3, 1, 3.0, EventKind.UPDATE, None, "RUNNING"),  # not a state kind
        Event(1, 1, 1.0, EventKind.SUBMIT, None, "PENDING"),
        Event(2, 1, 2.0, EventKind.HOLD, "PENDING", "HELD"),
        Event(4, None, 4.0, EventKind.NODE, None, None),
        Event(5, 2, 5.0, EventKind.SUBMIT, None, "HELD"),
        Event(6, 2, 6.0, EventKind.RELEASE, "HELD", "PENDING"),
        Event(7, 2, 7.0, EventKind.SIGNAL, None, None),
    ]
    assert replay_states(log) == {1: "HELD", 2: "PENDING"}


def _kind(old: JobState, new: JobState) -> EventKind:
    if new is JobState.PENDING and old is not JobState.HELD:
        return EventKind.REQUEUE
    if new is JobState.HELD:
        return EventKind.REQUEUE if old.is_final else EventKind.HOLD
    if old is JobState.HELD:
        return EventKind.RELEASE
    return EventKind.STATE


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), n_jobs=st.integers(1, 4), n_moves=st.integers(0, 25))
def test_replaying_the_log_reproduces_the_jobs_table(
    engine: Engine, data: st.DataObject, n_jobs: int, n_moves: int
) -> None:
    start = data.draw(st.lists(st.sampled_from([JobState.PENDING, JobState.HELD]),
                               min_size=n_jobs, max_size=n_jobs))
    with engine.begin() as conn:
        ids = insert_jobs(conn, [make_job(state=s) for s in start])
    t = 1000.0
    for _ in range(n_moves):
        job_id = data.draw(st.sampled_from(ids))
        with engine.begin() as conn:  # one move = the row and its event, together
            job = get_job(conn, job_id)
            assert job is not None
            new = data.draw(st.sampled_from(sorted(JOB_TRANSITIONS[job.state])))
            old, job.state = job.state, new
            t += 1.0
            if _kind(old, new) is EventKind.REQUEUE:
                job.restarts += 1
            save_job(conn, job)
            append_event(conn, job_id, t, _kind(old, new), str(old), str(new))
    with engine.connect() as conn:
        table = {j.id: str(j.state) for j in load_jobs(conn)}
        replayed = replay_states(events_since(conn, 0, limit=1_000_000))
    assert replayed == table


def test_nodes_upsert_and_load(engine: Engine) -> None:
    n1 = Node(name="n1", cpus=16, mem_mb=64_000, gpus=0, features=("avx2",),
              t_last_seen=5.0)
    n2 = Node(name="gpu01", cpus=32, mem_mb=256_000, gpus=4, features=("a100", "ib"),
              drain=True, drain_reason="bad fan", t_last_seen=6.5)
    with engine.begin() as conn:
        upsert_node(conn, n1)
        upsert_node(conn, n2)
    n1.cpus, n1.features, n1.drain, n1.drain_reason, n1.t_last_seen = 24, (), True, "x", 9.0
    with engine.begin() as conn:
        upsert_node(conn, n1)
    with engine.connect() as conn:
        loaded = load_nodes(conn)
    assert [n.name for n in loaded] == ["gpu01", "n1"]
    assert loaded[0] == n2
    assert loaded[1] == n1
    assert not loaded[1].reachable and loaded[1].jobs == set()


def test_meta(engine: Engine) -> None:
    with engine.begin() as conn:
        assert get_meta(conn, "cluster") is None
        assert get_meta(conn, "cluster", "dflt") == "dflt"
        set_meta(conn, "cluster", "alpha")
        set_meta(conn, "cluster", "beta")
        set_meta(conn, "other", "")
    with engine.connect() as conn:
        assert get_meta(conn, "cluster") == "beta"
        assert get_meta(conn, "other") == ""
