"""The single writer: durable store transactions with group commit.

Every state change is a function of an open connection. Callers await `run(op)`;
ops queued while a transaction is being committed go together into the next one,
so a burst of submits costs one fsync, not one each; rows an op defers
(store/deferred.py) are written at the end of its transaction, one statement a
kind. An op's result is returned only after its transaction has committed
(nothing acknowledged is ever lost). An op that need not be committed at once
(`run(op, within_s=...)`: the audit trail's entries) waits up to that long to join
the next transaction another op starts, rather than costing a commit of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from corral.store import deferred
from corral.store.db import reading
from corral.store.events import last_seq
from corral.store.leader import Deposed

log = logging.getLogger("corral.writer")

T = TypeVar("T")
Op = Callable[[Connection], Any]

MAX_BATCH = 500


class Writer:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: asyncio.Queue[tuple[Op, asyncio.Future[Any]]] = asyncio.Queue()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-writer")
        self._task: asyncio.Task[None] | None = None
        # ops waiting to join the next transaction (run(..., within_s)), and the timer
        # that queues them when none has started by then
        self._later: list[tuple[Op, asyncio.Future[Any]]] = []
        self._later_timer: asyncio.TimerHandle | None = None
        # the leader's epoch check, last in every transaction (services/leader.py),
        # and what to do when it fails: this controller has been deposed
        self.fence: Callable[[Connection], None] | None = None
        self.on_deposed: Callable[[Deposed], None] | None = None
        self.epoch = 0  # the leader's epoch this writer writes for (0: no election)
        # with an election: the newest event of the log as of the last commit (every
        # answer of the leader says it: a client reads its own writes from followers
        # by asking for at least that one, api/follower_reads.py)
        self.last_seq = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="writer")

    async def stop(self) -> None:
        self._take_later()  # (the audit trail was synced before: nothing is left)
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._pool.shutdown(wait=True)

    async def run(self, op: Callable[[Connection], T], *, within_s: float = 0.0) -> T:
        """`op`'s result once its transaction has committed. `within_s` > 0: it may
        wait that long for another op's transaction to join, before one of its own."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        if within_s > 0:
            self._later.append((op, fut))
            if self._later_timer is None:
                self._later_timer = loop.call_later(within_s, self.commit_later_now)
        else:
            await self._queue.put((op, fut))
        return await fut

    def commit_later_now(self) -> None:
        """Queue the ops waiting to join a transaction (`run(..., within_s)`)."""
        for item in self._take_later():
            self._queue.put_nowait(item)

    def _take_later(self) -> list[tuple[Op, asyncio.Future[Any]]]:
        """The ops waiting to join a transaction, taken, and their timer stopped."""
        if self._later_timer is not None:
            self._later_timer.cancel()
            self._later_timer = None
        later, self._later = self._later, []
        return later

    async def read(self, op: Callable[[Connection], T]) -> T:
        """A read on its own connection, off the event loop (never blocks the writer)."""
        def _do() -> T:
            with reading(self._engine) as conn:
                return op(conn)
        return await asyncio.to_thread(_do)

    async def _loop(self) -> None:
        while True:
            await self._one_batch(await self._queue.get())

    async def _one_batch(self, first: tuple[Op, asyncio.Future[Any]]) -> None:
        """Commit `first` and what queued behind it. (A method of its own so that the
        batch, its ops and what they hold are let go as soon as it is answered, not
        kept while the loop waits for the next write.)"""
        batch = [first]
        while len(batch) < MAX_BATCH and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        batch += self._take_later()  # the ops waiting to join one join this one
        results = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._commit, batch)
        for (_, fut), (ok, value) in zip(batch, results, strict=True):
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _commit(self, batch: list[tuple[Op, asyncio.Future[Any]]]) -> list[tuple[bool, Any]]:
        """Run the batch in one transaction; if it fails, run each op alone so one
        bad op cannot sink the others."""
        try:
            out: list[tuple[bool, Any]] = []
            with self._engine.begin() as conn:
                try:
                    deferred.begin(conn)
                    for op, _ in batch:
                        out.append((True, op(conn)))
                    deferred.finish(conn)
                finally:
                    deferred.abandon(conn)
                if self.fence is not None:  # last: the lease row is locked till commit
                    seq = last_seq(conn)
                    self.fence(conn)
            if self.fence is not None:
                self.last_seq = max(self.last_seq, seq)
            return out
        except Deposed as e:  # nothing of this controller may land any more
            log.critical("%s", e)
            if self.on_deposed is not None:
                self.on_deposed(e)
            return [(False, e)] * len(batch)
        except Exception as e:
            if len(batch) == 1:
                log.exception("store transaction failed")
                return [(False, e)]
        results: list[tuple[bool, Any]] = []
        for op, _ in batch:
            try:
                with self._engine.begin() as conn:
                    try:
                        deferred.begin(conn)
                        result = op(conn)
                        deferred.finish(conn)
                    finally:
                        deferred.abandon(conn)
                    if self.fence is not None:
                        seq = last_seq(conn)
                        self.fence(conn)
                if self.fence is not None:
                    self.last_seq = max(self.last_seq, seq)
                results.append((True, result))
            except Exception as e:
                log.exception("store transaction failed")
                results.append((False, e))
        return results
