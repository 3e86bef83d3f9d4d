"""A follower's warm copy: the event log tailed into the controller's state.

A controller that does not lead loads the queue once, as a restarted controller
does, together with the newest event's sequence number (one consistent read of
the store), and then applies every later event of the log as it lands, with the
very `apply` that replays the log (services/state.py), to the jobs of the
controller it keeps made. Its read model (services/snapshot.py) is published
after each batch, so the follower answers reads (api/follower_reads.py) and,
once it wins the lease, starts from this state instead of loading the queue
again (`Controller.start(warm=True)`).

The leader commits one transaction at a time and every one of them checks its
epoch (services/leader.py): events land in the order of their sequence numbers,
a gap is a transaction that was rolled back, never one still to come. So the
cursor `applied_seq` is all a follower needs.

What the events do not carry is read from the store: the arrays' pending rests
(reloaded when an event of an array was applied) and, at a take-over, the nodes.
An event that does not fit (a job the copy never had: it had ended before the
copy was loaded and left the queue) is skipped; one that contradicts the copy
marks it stale, and the take-over then loads the state as a restart does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from corral.model.errors import CorralError
from corral.model.event import Event
from corral.model.job import Job
from corral.services.state import ReplayError, apply
from corral.store import events as store_events
from corral.store import jobs as store_jobs
from corral.store.db import reading

if TYPE_CHECKING:
    from corral.services.controller import Controller

log = logging.getLogger("corral.follow")

POLL_S = 0.05  # how often the log is read while nothing new came
BATCH = 2000  # events read at once
APPLIED_POLL_S = 0.005  # a reader waiting for an event checks the cursor this often
PRUNE_EVERY_S = 1.0  # finished jobs past keep_finished_s leave the copy


class Tail:
    """The follower's side of a controller made but not started: its jobs follow
    the log. Runs on the controller's (writer's) loop; `applied_seq` and
    `t_heard` may be read from any thread."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.applied_seq = 0
        self.t_heard = 0.0  # monotonic: when the store was last read
        self.loaded = False
        self.stale: str | None = None  # why the copy cannot be trusted (None: it can)
        self.skipped = 0  # events of jobs the copy does not hold
        self.t_pruned = 0.0
        self._task: asyncio.Task[None] | None = None

    # ---- life cycle ---------------------------------------------------------------
    async def start(self) -> None:
        """Load the queue and the cursor, publish, and follow the log (a task of the
        loop this runs on)."""
        await self.load()
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="tail")

    async def stop(self) -> None:
        """Stop following (a take-over): the state stays as applied so far."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
            self._task = None

    async def load(self) -> None:
        ctl = self.ctl
        since = time.time() - ctl.cfg.controller.keep_finished_s
        seq, jobs = await asyncio.to_thread(self._read_queue, since)
        for j in jobs:
            ctl.jobs[j.id] = j
        await ctl.writer.read(self._reload_arrays)
        self.applied_seq = seq
        self.t_heard = time.monotonic()
        self.loaded = True
        ctl.publisher.start()
        log.info("following the log: %d jobs loaded as of event %d", len(jobs), seq)

    def _read_queue(self, since_t_end: float) -> tuple[int, list[Job]]:
        """The newest event's seq and the queue, as of one moment of the store."""
        engine = self.ctl.engine
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(
                    isolation_level="REPEATABLE READ") as conn, conn.begin():
                return store_events.last_seq(conn), \
                    store_jobs.load_jobs(conn, since_t_end=since_t_end)
        with reading(engine) as conn:
            return store_events.last_seq(conn), \
                store_jobs.load_jobs(conn, since_t_end=since_t_end)

    def _reload_arrays(self, conn: Connection) -> None:
        self.ctl.arrays.reload(conn)

    # ---- following ---------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            try:
                n = await self.catch_up()
            except Exception as e:  # the store is away: try again
                log.warning("following the log: the store cannot be read: %s",
                            str(e).splitlines()[0] if str(e) else type(e).__name__)
                await asyncio.sleep(POLL_S * 10)
                continue
            if not n:
                await asyncio.sleep(POLL_S)

    async def catch_up(self) -> int:
        """Apply the events landed since the last read (a batch); how many."""
        after = self.applied_seq
        evs: list[Event] = await self.ctl.writer.read(
            lambda conn: store_events.events_since(conn, after, BATCH))
        self.t_heard = time.monotonic()
        if evs:
            self.apply(evs)
            if any(_of_array(ev) for ev in evs):
                await self.ctl.writer.read(self._reload_arrays)
        now = time.time()
        if now - self.t_pruned >= PRUNE_EVERY_S:
            self.t_pruned = now
            self._prune(now)
        self.ctl.publisher.publish(rests=bool(evs))
        if evs:  # (once published: a reader waiting for these is answered from them)
            self.applied_seq = evs[-1].seq
        return len(evs)

    async def to_end(self) -> None:
        """Apply every event in the log (a take-over: no other controller writes)."""
        while await self.catch_up() >= BATCH:
            pass

    def apply(self, evs: list[Event]) -> None:
        state = self.ctl.state
        for ev in evs:
            try:
                apply(state, ev)
            except ReplayError as e:
                if ev.job_id is not None and ev.job_id not in state.jobs:
                    self.skipped += 1  # a job that had left the queue
                    log.debug("following the log: %s", e)
                else:
                    self._spoil(f"event {ev.seq}: {e}")
            except (CorralError, ValueError, KeyError, TypeError) as e:
                self._spoil(f"event {ev.seq}: {e}")  # it contradicts the copy
        # the rests the events keep on the plain state: the controller's own are
        # read from the store (Arrays)
        state.rests.clear()

    def _spoil(self, why: str) -> None:
        if self.stale is None:
            log.warning("following the log: the copy no longer fits the log (%s); a "
                        "take-over will load the state from the store", why)
            self.stale = why

    def _prune(self, now: float) -> None:
        """Finished jobs past their retention leave the copy (as the leader's
        housekeeping drops them, and as a load would not read them)."""
        keep = self.ctl.cfg.controller.keep_finished_s
        jobs = self.ctl.jobs
        for j in [j for j in jobs.values()
                  if j.state.is_final and j.t_end is not None and now - j.t_end > keep]:
            del jobs[j.id]

    async def applied(self, seq: int, timeout_s: float) -> bool:
        """Wait until the copy has applied event `seq` (or timeout_s); whether it has.
        (From any loop: the cursor is only read.)"""
        deadline = time.monotonic() + timeout_s
        while self.applied_seq < seq:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(APPLIED_POLL_S)
        return True


def _of_array(ev: Event) -> bool:
    return "array_id" in ev.data
