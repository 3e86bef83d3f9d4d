"""Ops that may wait to join another transaction (`Writer.run(op, within_s=...)`):
they ride with the next op's commit, or commit alone once their time is up, and the
audit trail's entries take that way (one commit fewer a request)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from corral.services import audit as audit_mod
from corral.services.audit import AuditTrail, entry_row
from corral.services.writer import Writer
from corral.store import audit as store_audit
from corral.store import jobs as store_jobs
from corral.store.db import reading
from tests.store.conftest import make_job


def _count_commits(engine: Engine) -> list[int]:
    commits = [0]

    def on_commit(conn: Any) -> None:
        commits[0] += 1

    event.listen(engine, "commit", on_commit)
    return commits


def _insert(conn: Connection) -> int:
    return store_jobs.insert_job(conn, make_job())


async def _rides(engine: Engine) -> None:
    commits = _count_commits(engine)
    writer = Writer(engine)
    writer.start()
    try:
        # alone: it waits, then commits in a transaction of its own
        t0 = time.monotonic()
        await writer.run(_insert, within_s=0.1)
        assert time.monotonic() - t0 >= 0.09
        assert commits[0] == 1
        # another op comes first: both in its transaction, the later one answered too
        later = asyncio.ensure_future(writer.run(_insert, within_s=30))
        await asyncio.sleep(0.01)
        assert not later.done()
        await writer.run(_insert)
        assert isinstance(await asyncio.wait_for(later, 5), int)
        assert commits[0] == 2
        # asked to commit now
        later = asyncio.ensure_future(writer.run(_insert, within_s=30))
        await asyncio.sleep(0.01)
        writer.commit_later_now()
        await asyncio.wait_for(later, 5)
        assert commits[0] == 3
        # one that fails fails alone; the op it rode with is kept
        def bad(conn: Connection) -> None:
            raise RuntimeError("refused")
        later_bad = asyncio.ensure_future(writer.run(bad, within_s=30))
        await asyncio.sleep(0.01)
        assert isinstance(await writer.run(_insert), int)
        try:
            await asyncio.wait_for(later_bad, 5)
            raise AssertionError("the failing op succeeded")
        except RuntimeError as e:
            assert str(e) == "refused"
    finally:
        await writer.stop()
    with reading(engine) as conn:
        assert len(store_jobs.query_jobs(conn)) == 5


def test_a_later_op_rides_with_the_next_commit_or_commits_alone(engine: Engine) -> None:
    asyncio.run(_rides(engine))


async def _audit(engine: Engine) -> None:
    commits = _count_commits(engine)
    writer = Writer(engine)
    writer.start()
    trail = AuditTrail(writer, {})
    try:
        for i in range(3):  # a request, answered, then its entry recorded
            await writer.run(_insert)
            trail.record(entry_row(caller=None, uid=0, origin="test", action="submit",
                                   job_id=i + 1, target=str(i + 1), request={},
                                   status=200, result="ok", request_id=None))
            await asyncio.sleep(0)
        # each entry rode with the next request's transaction (FLUSH_EVERY_S is far)
        assert commits[0] == 3
        with reading(engine) as conn:
            assert [r["job_id"] for r in store_audit.query(conn)] == [1, 2]
        n = commits[0]  # (a read commits too)
        await trail.sync()  # the last one: stored now
        assert commits[0] == n + 1
        with reading(engine) as conn:
            assert [r["job_id"] for r in store_audit.query(conn)] == [1, 2, 3]
    finally:
        await writer.stop()


def test_audit_entries_ride_with_the_next_requests_transaction(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audit_mod, "FLUSH_EVERY_S", 30.0)
    asyncio.run(_audit(engine))
