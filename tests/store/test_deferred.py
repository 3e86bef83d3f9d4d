"""Rows deferred to the end of a write transaction (store/deferred.py): one flush a
kind per group commit, nothing of a failed transaction, at once outside the writer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Connection, Engine

from corral.services.writer import Writer
from corral.store import deferred
from corral.store import jobs as store_jobs
from corral.store.db import reading
from tests.store.conftest import make_job

flushed: list[list[Any]] = []


def _flush(conn: Connection, rows: list[Any]) -> None:
    flushed.append(rows)


def _defer(*rows: int) -> Any:
    def op(conn: Connection) -> None:
        deferred.defer(conn, _flush, rows)
    return op


def _fail(conn: Connection) -> None:
    deferred.defer(conn, _flush, [99])
    store_jobs.insert_job(conn, make_job())
    raise RuntimeError("refused")


async def _batches(engine: Engine) -> None:
    writer = Writer(engine)
    writer.start()
    try:
        # queued together: one transaction, one flush of every op's rows, in order
        await asyncio.gather(*(writer.run(_defer(i, i + 10)) for i in range(3)))
        assert flushed == [[0, 10, 1, 11, 2, 12]]
        flushed.clear()
        # a failing op: its rows are dropped with its transaction, the others' kept
        results = await asyncio.gather(writer.run(_defer(1)), writer.run(_fail),
                                       writer.run(_defer(2)), return_exceptions=True)
        assert isinstance(results[1], RuntimeError)
        assert flushed == [[1], [2]]
        flushed.clear()
        await writer.run(_defer(3))  # nothing of the failed one comes back
        assert flushed == [[3]]
    finally:
        await writer.stop()
        flushed.clear()
    with reading(engine) as conn:
        assert store_jobs.query_jobs(conn) == []  # the failed op's row was rolled back


def test_deferred_rows_are_written_once_a_transaction(engine: Engine) -> None:
    asyncio.run(_batches(engine))


def test_outside_the_writer_rows_are_written_at_once(engine: Engine) -> None:
    with engine.begin() as conn:
        deferred.defer(conn, _flush, [7])
        assert flushed == [[7]]
    flushed.clear()


@pytest.fixture(autouse=True)
def _clean() -> None:
    flushed.clear()
