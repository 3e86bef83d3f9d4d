"""The controller's runtime: events applied, made durable, orders sent.

A mixin of the Controller (services/controller.py), which owns the queue, the
writer and the order book. Every change of a job goes through here: its event is
built (services/state.py's job_event, or a command handler's in
services/commands.py), applied with the one `apply` that replay uses, and handed
to the group-commit writer with the job's row; a command's agent orders are sent
once its events are durable (docs/adr/0003-events-and-apply.md). A submit
(services/submission.py) is the one command applied after its commit: the store
gives the new job its id.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral.logs import log_ids
from corral.model.arrays import task_job_id
from corral.model.event import Event, EventKind
from corral.model.job import Job
from corral.model.states import JobState, check_job_transition
from corral.services.commands import Outcome
from corral.services.jobtable import JobTable
from corral.services.orders import OrderBook
from corral.services.state import SET, ClusterState, apply_job, job_event, with_unrecorded
from corral.services.state import apply as state_apply
from corral.services.submission import Submitted
from corral.store import arrays as store_arrays
from corral.store import events as store_events
from corral.store import jobs as store_jobs

if TYPE_CHECKING:
    from corral.model.node import Node
    from corral.services.accounting import Accounting
    from corral.services.arrays import Arrays
    from corral.services.scheduling import Scheduler
    from corral.services.site_usage import SiteUsage
    from corral.services.usage import Usage
    from corral.services.writer import Writer

log = logging.getLogger("corral.controller")


Then = Callable[[Connection, int, int], None]  # (conn, first id, tasks): same transaction
# A submission made earlier under the same idempotency key, looked for in the
# transaction that would insert the job: what it made, or None
Earlier = Callable[[Connection], Any]


class AlreadySubmitted(Exception):  # (an outcome, not a failure)
    """The store holds a submission with the same idempotency key: nothing was
    inserted; `found` is what `Earlier` found."""

    def __init__(self, found: Any) -> None:
        super().__init__("submitted before")
        self.found = found


class _Batch:
    """Submitted jobs that go to the store in one insert; `done`: for each, its id
    (or AlreadySubmitted: not inserted)."""

    __slots__ = ("done", "items", "open")

    def __init__(self) -> None:
        self.items: list[tuple[Submitted, Then | None, Earlier | None]] = []
        self.open = True  # until the writer takes it
        self.done: asyncio.Future[list[int | AlreadySubmitted]]


class SubmitBatches:
    """Jobs submitted while the writer is busy wait for it together: their rows and
    submit events are inserted by one statement each (an executemany), not one a job.
    The writer takes a batch in its own thread; a submit that comes after that starts
    the next one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: _Batch | None = None

    def add(self, rt: Runtime, sub: Submitted, then: Then | None,
            earlier: Earlier | None = None) -> tuple[_Batch, int]:
        with self._lock:
            batch = self._batch(rt)
            batch.items.append((sub, then, earlier))
            return batch, len(batch.items) - 1

    def _batch(self, rt: Runtime) -> _Batch:
        """The open batch, or a new one whose insert is under way (under the lock)."""
        batch = self._open
        if batch is None or not batch.open:
            batch = self._open = _Batch()
            taken = batch
            batch.done = asyncio.ensure_future(
                rt.persist(lambda conn: self._insert(conn, taken)))
        return batch

    def add_all(self, rt: Runtime, subs: Sequence[Submitted]) -> tuple[_Batch, int]:
        """Several jobs at once, in order: (their batch, the index of the first)."""
        with self._lock:
            batch = self._batch(rt)
            first = len(batch.items)
            batch.items.extend((sub, None, None) for sub in subs)
            return batch, first

    def _insert(self, conn: Connection, batch: _Batch) -> list[int | AlreadySubmitted]:
        with self._lock:  # (the writer's thread) no more joins this batch
            batch.open = False
            items = list(batch.items)
            if self._open is batch:  # (its submits, with their events, are not kept
                self._open = None  # till the next submit: the writer may retry it)
        # a retry of a submission the store holds is not inserted again
        earlier = [AlreadySubmitted(found) if look is not None
                   and (found := look(conn)) is not None else None
                   for _, _, look in items]
        new = [item for item, e in zip(items, earlier, strict=True) if e is None]
        ids = iter(store_jobs.insert_jobs(conn, [s.job for s, _, _ in new],
                                          [s.event.data for s, _, _ in new]))
        out: list[int | AlreadySubmitted] = []
        for (_, then, _), e in zip(items, earlier, strict=True):
            if e is not None:
                out.append(e)
                continue
            job_id = next(ids)
            if then is not None:
                then(conn, job_id, 1)
            out.append(job_id)
        return out


class Runtime:
    jobs: JobTable
    submits: SubmitBatches
    state: ClusterState
    orders: OrderBook
    writer: Writer
    arrays: Arrays
    usage: Usage
    site_usage: SiteUsage
    nodes: dict[str, Node]
    scheduler: Scheduler | None
    counters: dict[str, int]
    accounting: Accounting

    if TYPE_CHECKING:  # provided by the Controller
        def release_resources(self, job: Job) -> None: ...
        def allocate(self, job: Job) -> None: ...

    # ---- persistence ------------------------------------------------------
    async def persist(self, op: Callable[[Connection], Any]) -> Any:
        try:
            return await self.writer.run(op)
        except Exception:
            log.critical("the store refused a state change; exiting so that a restart "
                         "reloads the truth from the store", exc_info=True)
            os._exit(70)

    def change(self, job: Job, new: JobState, *, kind: EventKind = EventKind.STATE,
               data: dict[str, Any] | None = None) -> Callable[[Connection], Any]:
        """Move a job in memory now, by applying its event (services/state.py); return
        the store op that makes it durable."""
        old = job.state
        check_job_transition(str(job.id), old, new)  # before the event takes anything
        ev = job_event(job, kind, to=new, data=data)
        self._apply(job, ev)
        self._moved(job, old)
        op = self._write(job, ev)
        if new.is_final:
            return self.accounting.on_end(job, op)
        return self.accounting.on_requeue(job, op) if kind == EventKind.REQUEUE else op

    def _moved(self, job: Job, old: JobState) -> None:
        """What follows a job's move: the log line, the counters, usage on its end."""
        new = job.state
        log.info("job %d: %s -> %s%s", job.id, old, new,
                 f" on {','.join(job.nodes)}" if job.nodes and new.is_active else "",
                 extra=log_ids(job_id=job.id, node=job.nodes[0] if job.nodes else None))
        if new.is_final:
            self.counters["jobs_ended"] += 1
            self.usage.charge_job(job, time.time())
            if job.nodes:
                self.site_usage.charge_job(
                    job, {n: node.site for n in job.nodes
                          if (node := self.nodes.get(n)) is not None}, time.time())
            if job.t_start is not None and job.t_end is not None and self.scheduler:
                # runtime history, for policies that predict (EASY++, predictive)
                self.scheduler.policy.record_finish(
                    job.user, job.t_end - job.t_start, job.time_limit_s or float("inf"))

    def record(self, job: Job, kind: EventKind, *, from_state: str | None = None,
               to_state: str | None = None, data: dict[str, Any] | None = None
               ) -> Callable[[Connection], Any]:
        """An event of the job that does not move its state (an update, a signal…)."""
        ev = job_event(job, kind, data=data, from_state=from_state, to_state=to_state)
        self._apply(job, ev)
        return self._write(job, ev)

    async def run_command(self, out: Outcome) -> str:
        """Apply a command's events now (the next command sees them), make them durable
        in one transaction, then send its orders; returns its answer."""
        ops = self.apply_outcome(out)
        if ops:
            await self.persist(lambda conn: [op(conn) for op in ops])
        self.send_orders(out)
        return out.answer

    def apply_outcome(self, out: Outcome) -> list[Callable[[Connection], Any]]:
        """Apply a command's events now; returns their store ops (the caller persists
        them, then sends the orders). A run that its event ends or sends back to the
        queue gives up what it held first (its nodes' CPUs, memory, GPUs; its epilog
        on its other nodes); a run that its event starts (services/pass_commands.py) takes
        them on the nodes the event names."""
        ops = []
        for made in out.events:
            if made.job_id is None:  # an array's rest (services/array_commands.py)
                ops.append(self.arrays.apply_rest(made))
                continue
            job = self.jobs[made.job_id]
            old = job.state
            to = made.to_state
            if old.is_active and to is not None and not JobState(to).is_active:
                self.release_resources(job)
                if JobState(to).is_waiting:  # a new run: its --signal warning again
                    job.t_signalled = None
            ev = with_unrecorded(job, made)  # what was assigned before, recorded with it
            self._apply(job, ev)
            if old.is_waiting and job.state.is_active:
                self.allocate(job)
            op = self._write(job, ev)
            if job.state != old:
                self._moved(job, old)
                if job.state.is_final:
                    op = self.accounting.on_end(job, op)
                elif ev.kind == EventKind.REQUEUE:
                    op = self.accounting.on_requeue(job, op)
            ops.append(op)
        return ops

    def send_orders(self, out: Outcome) -> None:
        """A command's orders to agents, once its events are durable."""
        for order in out.orders:
            self.orders.push(order.node, order.body)

    async def run_submit(self, sub: Submitted, then: Then | None = None,
                         earlier: Earlier | None = None) -> list[int]:
        """Queue what the submit command decided (services/submission.py): the job's
        row (an array's one row) and its submit event in one transaction, with
        `then(conn, first id, tasks)`; the store gives the id, and the event, with
        it, is then applied as replay applies it. Returns the new job ids.
        AlreadySubmitted, and nothing queued, when `earlier` finds something in
        that transaction."""
        job, tasks, data = sub.job, sub.tasks, sub.event.data
        if not tasks:  # with the other jobs submitted meanwhile: one insert for all
            batch, k = self.submits.add(self, sub, then, earlier)
            made = (await asyncio.shield(batch.done))[k]
            if isinstance(made, AlreadySubmitted):
                raise made
            state_apply(self.state, sub.with_id(made), spec=job.spec)
            return [made]

        def op(conn: Connection) -> int | AlreadySubmitted:
            found = earlier(conn) if earlier is not None else None
            if found is not None:
                return AlreadySubmitted(found)
            first = store_arrays.insert_array(conn, job, tasks, data)
            if then is not None:
                then(conn, first, tasks)
            return first
        first = await self.persist(op)
        if isinstance(first, AlreadySubmitted):
            raise first
        state_apply(self.state, sub.with_id(first))
        return [task_job_id(first, tasks, i) for i in range(tasks)]

    async def run_submits(self, subs: Sequence[Submitted]) -> list[int]:
        """Queue several plain jobs (no array) the submit command accepted: their rows
        and submit events go into one insert with whatever else is being submitted,
        then each event is applied as replay applies it. Their new ids, in order."""
        batch, first = self.submits.add_all(self, subs)
        ids = [i for i in (await asyncio.shield(batch.done))[first:first + len(subs)]
               if isinstance(i, int)]  # (all: none has a key)
        for sub, job_id in zip(subs, ids, strict=True):
            state_apply(self.state, sub.with_id(job_id), spec=sub.job.spec)
        return ids

    def _apply(self, job: Job, ev: Event) -> None:
        """Apply the event with the function replay uses; it is written by _write."""
        if self.jobs.get(job.id) is job:
            state_apply(self.state, ev)
        else:  # a task not (yet) in the queue: the same change, on the job alone
            apply_job(job, ev)

    def _write(self, job: Job, ev: Event) -> Callable[[Connection], Any]:
        """The store op of an applied event: the job's row and the event."""
        copy = dataclasses.replace(job)
        first = self.arrays.unsaved.pop(job.id, None)  # a task just out of its rest

        # the spec's column is written again only by an event that sets it (one that
        # carries the job's whole row, or a change of the spec)
        spec = "spec" in (ev.data.get(SET) or ())

        def op(conn: Connection) -> None:
            if first is not None:
                first(conn)
            store_jobs.save_job(conn, copy, spec=spec)
            store_events.append_events(conn, (store_events.event_row(
                ev.job_id, ev.t, ev.kind, ev.from_state, ev.to_state, ev.data),))
        return op

