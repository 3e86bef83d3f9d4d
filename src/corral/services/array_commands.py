"""Whole-array commands as handlers (services/commands.py): cancel, hold, release and
update of an array's pending rest and of its tasks that have left it.

Pure functions of (state, rules, caller, the array, request, now) -> Outcome(events,
orders) and the number of tasks reached: no I/O, no clock, no change of the state
inside. The array (`ArrayAt`) is what the runtime gathers of it (services/arrays.py
holds the rests): its rest's template and pending count, and its tasks in the
queue. A rest's event carries the rest's whole row (services/state.py applies it,
the runtime to the live rest); a task's is a job's, as commands.py builds them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.model.event import Event, EventKind
from corral.model.intent import StopIntent
from corral.model.job import Job
from corral.model.record import encode_value, image
from corral.model.states import JobState, check_job_transition
from corral.services import commands
from corral.services.authz import Action
from corral.services.commands import Outcome, Resolver, Rules, intent_values, job_change
from corral.services.identity import Caller
from corral.services.state import SET, ClusterState


@dataclass(frozen=True, slots=True)
class ArrayAt:
    """An array as a whole-array command reads it."""

    array_id: int
    rest: Job | None  # its pending rest's template (None: every task has left it)
    pending: int  # tasks still in the rest
    tasks: Sequence[Job]  # its tasks that have left the rest, in the queue

    @property
    def owner(self) -> Job | None:
        return self.rest if self.rest is not None else self.tasks[0] if self.tasks else None


def rest_change(arr: ArrayAt, kind: EventKind, now: float, values: Mapping[str, Any], *,
                to: JobState | None = None, data: Mapping[str, Any] | None = None) -> Event:
    """The event of a change of the array's rest: its whole row with `values` set (and
    its state moved to `to`, checked against the one transition table)."""
    t = arr.rest
    assert t is not None
    row = image(t)
    row.update({name: encode_value(name, v) for name, v in values.items()})
    to = t.state if to is None else to
    if to != t.state:
        check_job_transition(t.display_id, t.state, to)
    row["state"] = str(to)
    return Event(seq=0, job_id=None, t=now, kind=kind, from_state=str(t.state),
                 to_state=str(to), data={"array_id": arr.array_id, "tasks": arr.pending,
                                         **(data or {}), SET: row})


def _check(rules: Rules, caller: Caller, arr: ArrayAt, action: Action) -> None:
    if arr.owner is not None:
        rules.access.check_acts_on(caller, arr.owner, action)


def cancel(state: ClusterState, rules: Rules, caller: Caller, arr: ArrayAt,
           now: float) -> tuple[Outcome, int]:
    """The rest ends CANCELLED as one row; each of its tasks in the queue is cancelled
    as a job is (a running one is stopped, its agents told to kill it)."""
    _check(rules, caller, arr, Action.CANCEL)
    events: list[Event] = []
    orders: list[commands.Order] = []
    count = 0
    if arr.rest is not None:
        count += arr.pending
        events.append(rest_change(arr, EventKind.STATE, now, {
            "cancelled_by_uid": caller.uid, "t_end": now, **intent_values(None)},
            to=JobState.CANCELLED, data={"by": caller.user}))
    for job in arr.tasks:
        if job.state.is_final:
            continue
        count += 1
        out = commands.cancel(state, rules, caller, job.id, now)
        events += out.events
        orders += out.orders
    return Outcome(tuple(events), tuple(orders), str(JobState.CANCELLED)), count


def hold(state: ClusterState, rules: Rules, caller: Caller, arr: ArrayAt, now: float, *,
         release: bool) -> tuple[Outcome, int]:
    """Hold the rest and the array's pending tasks (by their owner, or by an operator:
    then only one releases them), or release the held ones."""
    _check(rules, caller, arr, Action.RELEASE if release else Action.HOLD)
    frm, to = (JobState.HELD, JobState.PENDING) if release else (JobState.PENDING,
                                                                 JobState.HELD)
    kind = EventKind.RELEASE if release else EventKind.HOLD
    owner = arr.owner
    intent: StopIntent | None = None if release or owner is None else \
        rules.access.held_by(caller, owner.uid)
    movers = [j for j in arr.tasks if j.state == frm]
    admin_held = [j for j in ([arr.rest] if arr.rest else []) + movers
                  if j.state == frm and j.intent == StopIntent.HOLD_ADMIN]
    if release and admin_held:
        rules.access.check_release(caller, admin_held[0])
    events: list[Event] = []
    count = 0
    by = {"by": caller.user}
    if arr.rest is not None and arr.rest.state == frm:
        events.append(rest_change(arr, kind, now, intent_values(intent), to=to, data=by))
        count += arr.pending
    for job in movers:
        events.append(job_change(job, kind, now, intent_values(intent), to=to, data=by))
        count += 1
    return Outcome(tuple(events), (), str(to)), count


def update_rest(state: ClusterState, rules: Rules, caller: Caller, arr: ArrayAt,
                fields: Mapping[str, Any], now: float, resolver: Resolver) -> Outcome:
    """Change the spec of the array's pending rest (its tasks in the queue are changed
    one by one, as jobs: commands.update). No rest: nothing."""
    _check(rules, caller, arr, Action.UPDATE)
    t = arr.rest
    if t is None:
        return Outcome()
    commands.check_update_fields(arr.array_id, fields, t.state)
    res = resolver(t, dataclasses.replace(t.spec, **fields))
    rules.access.check_update(caller, t, fields, res.time_limit_s)
    ev = rest_change(arr, EventKind.UPDATE, now, {
        "spec": res.spec, "partition": res.partition, "time_limit_s": res.time_limit_s,
        "mem_mb_per_node": res.mem_mb_per_node}, data={"fields": dict(fields),
                                                        "by": caller.user})
    return Outcome((ev,), (), str(t.state))

