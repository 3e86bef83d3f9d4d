"""Job arrays: the pending rest of each array as one record (docs/specs/01-job-states.md).

An array's tasks cost a job record each only once they leave the rest: when they
start, or are held, cancelled or changed on their own. Whole-array cancel, hold,
release and update are one request and one transaction, whatever the size; they are
decided by services/array_commands.py's handlers, whose rest events this applies to
the live rests (`apply_rest`).
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral.model.arrays import ArrayRest
from corral.model.errors import Conflict, NotFound
from corral.model.event import Event, EventKind
from corral.model.job import Job
from corral.model.states import JobState
from corral.services import array_commands
from corral.services.array_commands import ArrayAt
from corral.services.commands import intent_values
from corral.services.identity import Caller
from corral.services.state import apply_job
from corral.store import arrays as store_arrays
from corral.store.events import append_event

if TYPE_CHECKING:
    from corral.services.controller import Controller

Op = Callable[[Connection], Any]



class Arrays:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.rests: dict[int, ArrayRest] = {}  # array id -> its waiting rest
        self._ids: list[int] = []  # the keys of `rests`, sorted
        # tasks taken out of their rest whose own row is not yet written: their
        # insert goes with the first store op of that task (services/runtime.py: _write)
        self.unsaved: dict[int, Op] = {}

    # ---- life cycle -----------------------------------------------------------------
    def load(self, conn: Connection) -> None:
        for tmpl, taken in store_arrays.load_arrays(conn):
            rest = ArrayRest(tmpl, taken)
            if len(rest.pending):
                self._add(rest)

    def reload(self, conn: Connection) -> None:
        """The rests as the store holds them now (a follower's copy, a take-over)."""
        self.rests.clear()
        self._ids.clear()
        self.load(conn)

    def _add(self, rest: ArrayRest) -> None:
        self.rests[rest.id] = rest
        bisect.insort(self._ids, rest.id)

    def _drop(self, rest: ArrayRest) -> None:
        self.rests.pop(rest.id, None)
        k = bisect.bisect_left(self._ids, rest.id)
        if k < len(self._ids) and self._ids[k] == rest.id:
            del self._ids[k]

    def added(self, tmpl: Job, tasks: int) -> None:
        """A submitted array's rest, as its submit event was applied (services/state.py):
        one record for all its tasks until they start."""
        self._add(ArrayRest(tmpl))

    # ---- reads ----------------------------------------------------------------------
    def find(self, job_id: int) -> tuple[ArrayRest, int] | None:
        """The rest holding this job id as a pending task, and its index."""
        k = bisect.bisect_right(self._ids, job_id) - 1
        if k < 0:
            return None
        rest = self.rests[self._ids[k]]
        i = rest.index_of(job_id)
        return (rest, i) if i is not None else None

    def view(self, job_id: int) -> Job | None:
        found = self.find(job_id)
        return found[0].view(found[1]) if found else None

    def is_template(self, job: Job) -> bool:
        rest = self.rests.get(job.id)
        return rest is not None and rest.template is job

    async def ended(self, ids: set[int]) -> list[ArrayRest]:
        """Ended (cancelled, failed) rests holding any of these job ids, from the store:
        their tasks never got records of their own."""
        if not ids:
            return []
        found = await self.ctl.writer.read(
            lambda conn: store_arrays.load_arrays(conn, ended_holding=sorted(ids)[:1000]))
        return [r for r in (ArrayRest(t, taken) for t, taken in found) if len(r.pending)]

    def listed(self, *, users: set[str], states: set[str], partitions: set[str],
               ids: set[int], names: set[str], arrays: set[int],
               among: list[ArrayRest] | None = None) -> list[ArrayRest]:
        out = []
        for rest in self.rests.values() if among is None else among:
            t = rest.template
            if (users and t.user not in users) or (states and str(t.state) not in states) \
                    or (partitions and t.partition not in partitions) \
                    or (names and t.spec.name not in names) \
                    or (arrays and rest.id not in arrays):
                continue
            if ids and rest.id not in ids and not any(rest.index_of(i) is not None
                                                      for i in ids):
                continue
            out.append(rest)
        return out

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rest in self.rests.values():
            key = str(rest.template.state)
            out[key] = out.get(key, 0) + len(rest.pending)
        return out

    def is_array(self, array_id: int) -> bool:
        return array_id in self.rests or bool(self.ctl.deps.array_tasks.get(array_id))

    def tasks(self, array_id: int) -> list[Job]:
        """The tasks of an array that have left its rest and are in memory."""
        jobs = self.ctl.jobs
        return [jobs[i] for i in self.ctl.deps.array_tasks.get(array_id, ()) if i in jobs]

    # ---- a task leaves the rest ---------------------------------------------------------
    def detach(self, job_id: int) -> Job | None:
        """Take a pending task out of its rest as a job of its own (in memory now; its
        row is written with its first store op)."""
        found = self.find(job_id)
        if found is None:
            return None
        rest, i = found
        job = rest.take(i)
        self.ctl.jobs[job.id] = job
        self.ctl.deps.add_array(rest.id, [job.id])
        copy = dataclasses.replace(job)
        ops: list[Op] = [lambda conn: store_arrays.insert_task(conn, copy)]
        if not len(rest.pending):  # the last one: the rest goes, after every task's row
            self._drop(rest)
            top = rest.id + len(rest.array.task_ids)
            ops = [self.unsaved.pop(k) for k in sorted(self.unsaved) if rest.id <= k < top]
            ops += [lambda conn: store_arrays.insert_task(conn, copy),
                    lambda conn: store_arrays.delete_array(conn, rest.id)]
        self.unsaved[job.id] = lambda conn: [op(conn) for op in ops]
        return job

    def at(self, rest: ArrayRest) -> ArrayAt:
        return ArrayAt(rest.id, rest.template, len(rest.pending), ())

    def apply_rest(self, ev: Event) -> Op:
        """Apply an event of an array's rest (services/array_commands.py) to the live
        rest, as replay applies it to its own (services/state.py); returns the store
        op: the rest's row and the event. A rest that ends leaves the queue, after its
        tasks' rows not yet written."""
        rest = self.rests[int(ev.data["array_id"])]
        apply_job(rest.template, ev)
        rest.changed()
        copy = dataclasses.replace(rest.template)

        def op(conn: Connection) -> None:
            store_arrays.save_array(conn, copy)
            append_event(conn, None, ev.t, ev.kind, ev.from_state, ev.to_state, ev.data)
        if not copy.state.is_final:
            return op
        self._drop(rest)
        self.ctl.deps.rest_ended(rest)
        unsaved = [self.unsaved.pop(k) for k in sorted(self.unsaved)
                   if rest.id <= k < rest.id + len(rest.array.task_ids)]
        return lambda conn: [o(conn) for o in [*unsaved, op]]

    def _own(self, caller: Caller, array_id: int) -> ArrayAt | None:
        """The array as a whole-array command reads it; None: it has ended and left the
        queue."""
        rest = self.rests.get(array_id)
        tasks = self.tasks(array_id)
        if rest is None and not tasks:
            if array_id in self.ctl.deps.array_tasks:
                return None  # an array that has ended and left the queue
            raise NotFound(f"job {array_id}: no such array in the queue")
        return ArrayAt(array_id, rest.template if rest is not None else None,
                       len(rest.pending) if rest is not None else 0, tasks)

    def end_rest(self, rest: ArrayRest, state: JobState, data: dict[str, Any]) -> Op:
        """The rest ends (its dependency can never be met) as one row."""
        now = time.time()
        ev = array_commands.rest_change(self.at(rest), EventKind.STATE, now, {
            "t_end": now, **intent_values(None)}, to=state, data=data)
        return self.apply_rest(ev)

    # ---- whole-array commands (decided in services/array_commands.py) --------------------
    async def cancel(self, caller: Caller, array_id: int) -> dict[str, Any]:
        ctl = self.ctl
        arr = self._own(caller, array_id)
        count = 0
        if arr is not None:
            out, count = array_commands.cancel(ctl.state, ctl.rules, caller, arr,
                                               time.time())
            await ctl.run_command(out)
        await ctl.notify_finished()
        ctl.kick()
        return {"id": array_id, "state": "CANCELLED", "tasks": count}

    async def hold(self, caller: Caller, array_id: int, *, release: bool) -> dict[str, Any]:
        ctl = self.ctl
        arr = self._own(caller, array_id)
        count = 0
        to = JobState.PENDING if release else JobState.HELD
        if arr is not None:
            out, count = array_commands.hold(ctl.state, ctl.rules, caller, arr, time.time(),
                                             release=release)
            await ctl.run_command(out)
        ctl.kick()
        return {"id": array_id, "state": str(to), "tasks": count}

    async def update(self, caller: Caller, array_id: int, fields: dict[str, Any]
                     ) -> dict[str, Any]:
        """Change the rest and every task that may still take the change."""
        ctl = self.ctl
        arr = self._own(caller, array_id)
        count = 0
        if arr is not None:
            out = array_commands.update_rest(ctl.state, ctl.rules, caller, arr, fields,
                                             time.time(), ctl.resolver(caller, fields))
            await ctl.run_command(out)
            count += arr.pending if out.events else 0
        for job in arr.tasks if arr is not None else ():
            if job.state.is_final:
                continue
            try:
                await ctl.update(caller, job.id, fields)
                count += 1
            except Conflict:
                continue  # started: what may no longer change stays
        ctl.kick()
        return {"id": array_id, "tasks": count}

