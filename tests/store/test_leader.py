"""The leader's lease and fencing in the store (store/leader.py), on both backends."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from corral.services.leader import Leadership
from corral.services.writer import Writer
from corral.store import jobs as store_jobs
from corral.store import leader as store_leader
from corral.store.db import make_engine, migrate, reading
from corral.store.leader import Deposed
from tests.conftest import PG_URL
from tests.store.conftest import make_job


def _campaign(engine: Engine, me: str, lease_s: float = 60.0) -> int | None:
    with engine.begin() as conn:
        return store_leader.campaign(conn, me, f"http://{me}", lease_s)


def test_one_campaign_wins_and_the_lease_lapses(engine: Engine) -> None:
    assert _campaign(engine, "a", lease_s=0.3) == 1
    assert _campaign(engine, "b") is None  # a holds it
    with reading(engine) as conn:
        lease = store_leader.read_lease(conn)
    assert (lease.holder, lease.address, lease.held) == ("a", "http://a", True)
    time.sleep(0.4)  # a never renewed: its lease lapses
    assert _campaign(engine, "b") == 2
    with engine.begin() as conn:
        assert not store_leader.renew(conn, "a", 1)
        assert store_leader.renew(conn, "b", 2)


def test_a_deposed_leaders_write_is_refused(engine: Engine) -> None:
    assert _campaign(engine, "old", lease_s=0.2) == 1
    with engine.begin() as conn:
        store_leader.fence(conn, "old", 1)  # still the leader: passes
    time.sleep(0.3)
    assert _campaign(engine, "new") == 2
    with pytest.raises(Deposed), engine.begin() as conn:
        store_leader.fence(conn, "old", 1)
        store_jobs.insert_job(conn, make_job())
    with reading(engine) as conn:  # nothing of the old epoch landed
        assert store_jobs.query_jobs(conn) == []
    with engine.begin() as conn:
        store_leader.fence(conn, "new", 2)
        store_jobs.insert_job(conn, make_job())
    with reading(engine) as conn:
        assert len(store_jobs.query_jobs(conn)) == 1


def test_a_released_lease_is_taken_at_once(engine: Engine) -> None:
    assert _campaign(engine, "a") == 1
    with engine.begin() as conn:
        assert store_leader.release(conn, "a", 1)
    assert _campaign(engine, "b") == 2
    with engine.begin() as conn:
        assert not store_leader.release(conn, "a", 1)  # not its own any more


def test_members_and_their_heartbeats(engine: Engine) -> None:
    with engine.begin() as conn:
        for me in ("a", "b"):
            store_leader.heartbeat(conn, me, address=f"http://{me}", host="h", pid=1,
                                   role="follower", epoch=0, t_started=0.0)
        found = {m["id"]: m for m in store_leader.members(conn)}
        assert set(found) == {"a", "b"}
        assert all(0 <= m["age_s"] < 5 for m in found.values())
        store_leader.forget(conn, "a")
        assert [m["id"] for m in store_leader.members(conn)] == ["b"]


def test_the_writer_refuses_every_op_once_deposed(engine: Engine) -> None:
    asyncio.run(_writer_deposed(engine))


async def _writer_deposed(engine: Engine) -> None:
    assert _campaign(engine, "old", lease_s=0.2) == 1
    writer = Writer(engine)
    deposed: list[Deposed] = []
    writer.fence = lambda conn: store_leader.fence(conn, "old", 1)
    writer.on_deposed = deposed.append
    writer.start()
    try:
        assert await writer.run(lambda conn: store_jobs.insert_job(conn, make_job())) == 1
        time.sleep(0.3)
        assert _campaign(engine, "new") == 2
        with pytest.raises(Deposed):
            await writer.run(lambda conn: store_jobs.insert_job(conn, make_job()))
        assert len(deposed) == 1
    finally:
        await writer.stop()
    with reading(engine) as conn:
        assert [j.id for j in store_jobs.query_jobs(conn)] == [1]


@pytest.mark.pg
def test_a_leader_frozen_in_a_transaction_does_not_hold_the_lease(pg_schema: str) -> None:
    """Its transaction holds the lease row's lock; the database ends it after the
    limit, and a follower takes the lease (else it would wait for ever)."""
    frozen = make_engine(PG_URL, schema=pg_schema)
    migrate(frozen)
    follower = make_engine(PG_URL, schema=pg_schema)
    try:
        assert _campaign(frozen, "old", lease_s=0.2) == 1
        conn = frozen.connect()
        tx = conn.begin()
        store_leader.bound_idle(conn, 1.0)
        store_leader.fence(conn, "old", 1)  # the row is locked, and then nothing
        time.sleep(0.3)  # its lease has lapsed
        t0 = time.monotonic()
        assert _campaign(follower, "new") == 2  # waited for the database to end it
        assert 0.5 < time.monotonic() - t0 < 10
        with pytest.raises(DBAPIError):  # its transaction is gone
            store_jobs.insert_job(conn, make_job())
            tx.commit()
        conn.close()
    finally:
        frozen.dispose()
        follower.dispose()


def test_a_followers_lag_in_events_and_seconds(engine: Engine) -> None:
    from corral.model.event import EventKind
    from corral.services.leader import Leadership
    from corral.store.events import append_event
    with engine.begin() as conn:
        for t in (100.0, 102.5, 104.0):
            append_event(conn, None, t, EventKind.NODE)
    leadership = Leadership(engine, address="http://a", lease_s=5)
    leadership.applied_seq = lambda: 1
    leadership._try_once(False)  # a follower's heartbeat, with how far it applied
    e = leadership.describe()
    assert e["last_seq"] == 3
    (me,) = e["controllers"]
    assert (me["role"], me["applied_seq"], me["lag_events"], me["lag_s"]) == \
        ("follower", 1, 2, 4.0)
    leadership.applied_seq = lambda: 3
    leadership._try_once(False)
    (me,) = leadership.describe()["controllers"]
    assert (me["lag_events"], me["lag_s"]) == (0, 0.0)


def test_the_writer_says_the_newest_event_as_of_each_commit(engine: Engine) -> None:
    asyncio.run(_writer_seq(engine))


async def _writer_seq(engine: Engine) -> None:
    from corral.model.event import EventKind
    from corral.store.events import append_event
    assert _campaign(engine, "me") == 1
    writer = Writer(engine)
    writer.fence = lambda conn: store_leader.fence(conn, "me", 1)
    writer.start()
    try:
        seqs = [await writer.run(lambda conn: append_event(conn, None, 1.0, EventKind.NODE))
                for _ in range(3)]
        assert seqs == [1, 2, 3] and writer.last_seq == 3
    finally:
        await writer.stop()


@pytest.mark.pg
def test_a_long_write_transaction_does_not_hold_the_renewal_up(pg_schema: str) -> None:
    """The fence of an open write transaction locks the lease row against a
    campaign, not against the leader's own renewal: the leader keeps its lease
    through a transaction longer than the lease, and a follower still cannot take
    it while that transaction is open."""
    engine = make_engine(PG_URL, schema=pg_schema)
    migrate(engine)
    other = make_engine(PG_URL, schema=pg_schema)
    lost: list[str] = []
    leader = Leadership(engine, address="http://a", lease_s=1.0)
    try:
        epoch = leader.wait_to_lead()
        leader.lead(lost.append)
        with engine.begin() as conn:
            store_leader.bound_idle(conn, 30.0)
            store_jobs.insert_job(conn, make_job())
            store_leader.fence(conn, leader.me, epoch)  # the row locked till the commit
            with reading(other) as c:
                t_first = store_leader.read_lease(c).t_renewed
            time.sleep(3.0)  # three leases long
            with reading(other) as c:
                lease = store_leader.read_lease(c)
            assert lease.t_renewed > t_first + 1.5, "the renewals waited for the fence"
            assert lease.held and lease.holder == leader.me
            assert _campaign(other, "b", lease_s=1.0) is None
        assert lost == []
        assert leader.leading
    finally:
        leader.stop()
        time.sleep(0.3)
        engine.dispose()
        other.dispose()


@pytest.mark.pg
def test_a_leader_paused_past_its_lease_keeps_it_when_nobody_took_it(
        pg_schema: str) -> None:
    """A pause of the whole process (here a C call that holds the interpreter's lock
    for seconds, as a garbage collection of a large heap does) stops the renewer
    and the watchdog alike: past its lease, with no other controller, the renewal
    sent after the pause finds the lease still its own, and the leader stays."""
    engine = make_engine(PG_URL, schema=pg_schema)
    migrate(engine)
    lost: list[str] = []
    leader = Leadership(engine, address="http://a", lease_s=1.0)
    try:
        epoch = leader.wait_to_lead()
        leader.lead(lost.append)
        time.sleep(0.5)
        t0 = time.monotonic()
        sum(range(10**8))  # every thread of this process held up
        assert time.monotonic() - t0 > 1.0, "the pause was shorter than the lease"
        time.sleep(1.5)
        assert lost == []
        assert leader.leading
        with reading(engine) as conn:
            lease = store_leader.read_lease(conn)
        assert (lease.epoch, lease.holder, lease.held) == (epoch, leader.me, True)
    finally:
        leader.stop()
        time.sleep(0.3)
        engine.dispose()
