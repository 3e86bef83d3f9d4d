"""The cluster's jobs as plain data, changed only by applying events.

`apply(state, event)` is the one function that moves the state by an event. The
controller builds each event for a change of a job (`job_event`, or a command
handler's: services/commands.py, services/submission.py), applies it to its
own state with this function and hands the same event to the writer
(services/runtime.py: change, record, run_command, run_submit); `replay` applies a
store's whole event log to an empty state and gets back the jobs and the array rests
the store's rows hold (tests/api/test_replay.py checks it against a live controller).
docs/adr/0003.

What an event carries, in data["set"] (model/record.py's JSON values):
- a job's submit: its whole row (the spec at the data's top level for a plain job,
  under "set" for an array task leaving its rest, whose data names its array);
- any later event of a job: the fields assigned since its last event (state with the
  node list, times, exit code, intent, requeue and retry counts, a changed spec, …)
  and always its reason and priority, which every scheduling pass sets in memory;
- an array rest's events (no job id, data["array_id"]): the rest's whole row;
- a reservation's (no job id, data["reservation"]): the one created, or the name of
  the one deleted (a second create of a name, or a delete of a missing one, is
  refused by apply: two changes built on the same state cannot both be kept).
Node events leave the state alone (nodes are kept by their agents' registrations).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.model.errors import Conflict, NotFound
from corral.model.event import Event, EventKind
from corral.model.job import STORED_FIELDS, UNRECORDED, Job, JobSpec, TrackedJob
from corral.model.record import assign, encode, image, job_from_image
from corral.model.states import JobState, check_job_transition

SET = "set"
ALWAYS = ("reason", "priority")  # set in memory by every scheduling pass


@dataclass(slots=True)
class Rest:
    """An array's pending rest as the store's `arrays` row holds it."""

    template: Job
    tasks: int
    taken: set[int] = field(default_factory=set)  # job ids that left it


@dataclass(slots=True)
class ClusterState:
    """Jobs by id and array rests by array id. `on_move(job, old state)` is told of
    every state move (the live controller's JobTable keeps its indexes with it)."""

    jobs: dict[int, Job] = field(default_factory=dict)
    rests: dict[int, Rest] = field(default_factory=dict)
    # name -> a reservation as its to_dict() (services/reservations.py)
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    on_move: Callable[[Job, JobState], None] | None = None
    # an array's rest submitted (its template, its task count): the live controller
    # keeps its rests itself (services/arrays.py); None: they go into `rests`
    on_rest: Callable[[Job, int], None] | None = None


class ReplayError(Exception):
    """An event that does not fit the state it is applied to."""


def job_event(job: Job, kind: EventKind, *, to: JobState | None = None,
              data: Mapping[str, Any] | None = None, t: float | None = None,
              from_state: str | None = None, to_state: str | None = None) -> Event:
    """The event of a change of `job`: the move to `to` (if any) and the stored fields
    assigned to it since its last event (UNRECORDED), taken now."""
    noted = UNRECORDED.pop(job.id, None) if type(job) is TrackedJob else None
    names: Iterable[str] = STORED_FIELDS if type(job) is not TrackedJob else \
        (*ALWAYS, *sorted(noted)) if noted else ALWAYS
    values = encode(job, names)
    if to is not None:
        values["state"] = str(to)
        from_state, to_state = str(job.state), str(to)
    return Event(seq=0, job_id=job.id, t=time.time() if t is None else t, kind=kind,
                 from_state=from_state, to_state=to_state,
                 data={**(data or {}), SET: values})


def with_unrecorded(job: Job, ev: Event) -> Event:
    """A command's event (services/commands.py) with the job's stored fields assigned
    since its last event and not set by the command, so that the event log keeps
    every change that the job's row gets."""
    noted = UNRECORDED.pop(job.id, None) if type(job) is TrackedJob else None
    values: dict[str, Any] = ev.data.get(SET) or {}
    extra = [n for n in noted or () if n not in values]
    if not extra:
        return ev
    return dataclasses.replace(ev, data={**ev.data, SET: {**encode(job, extra), **values}})


def rest_data(template: Job, data: Mapping[str, Any]) -> dict[str, Any]:
    """The data of an event of an array's rest: its whole row under "set"."""
    return {**data, SET: image(template)}


def apply(state: ClusterState, ev: Event, *, spec: JobSpec | None = None) -> Job | None:
    """Move `state` by one event; returns the job it changed (None: no job). `spec`:
    a submit event's spec as decoded already (the live submit's, the one the command
    checked and the event was encoded from), not decoded again."""
    values = ev.data.get(SET)
    if ev.job_id is None:
        if "array_id" in ev.data:  # (a rest's submit carries a spec's "reservation")
            if values is not None:
                _apply_rest(state, ev, values)
        elif isinstance(ev.data.get("reservation"), Mapping):
            _apply_reservation(state, ev.data["reservation"])
        return None
    if values is None:
        return None  # an event older than "set"
    job = state.jobs.get(ev.job_id)
    if ev.kind == EventKind.SUBMIT:
        if job is not None:
            raise ReplayError(f"event {ev.seq}: job {ev.job_id} submitted twice")
        job = _submitted(ev, values, spec)
        state.jobs[job.id] = job
        _took(state, ev)
        return job
    if job is None:
        raise ReplayError(f"event {ev.seq}: job {ev.job_id} was never submitted")
    apply_job(job, ev, state.on_move)
    return job


def apply_job(job: Job, ev: Event, on_move: Callable[[Job, JobState], None] | None = None
              ) -> None:
    """Set the fields the event carries on the job; a state move is checked against
    the one transition table first, and told to `on_move`."""
    values: Mapping[str, Any] = ev.data.get(SET) or {}
    old = job.state
    new = JobState(values["state"]) if "state" in values else old
    if "state" in values and ev.from_state is not None and ev.from_state != old:
        # made for a state the job has left: refused, never applied to another one
        raise Conflict(f"job {job.id}: is {old}, not {ev.from_state} as when the "
                       f"change to {new} was asked")
    if new != old:
        check_job_transition(str(job.id), old, new)
    assign(job, values)
    if type(job) is TrackedJob:
        UNRECORDED.pop(job.id, None)  # what the event set is recorded by it
    if new != old and on_move is not None:
        on_move(job, old)


def _submitted(ev: Event, values: Mapping[str, Any], spec: JobSpec | None) -> Job:
    assert ev.job_id is not None
    if spec is not None:
        return job_from_image(ev.job_id, values, spec=spec)
    if "spec" not in values:  # a plain job's spec is the data's top level
        values = {**values, "spec": {k: v for k, v in ev.data.items() if k != SET}}
    return job_from_image(ev.job_id, values)


def _took(state: ClusterState, ev: Event) -> None:
    """An array task left its rest; the rest's row goes with its last task."""
    array_id = ev.data.get("array_id")
    rest = state.rests.get(array_id) if array_id is not None else None
    if rest is None or ev.job_id is None:
        return
    rest.taken.add(ev.job_id)
    if len(rest.taken) >= rest.tasks:
        del state.rests[rest.template.id]


def _apply_rest(state: ClusterState, ev: Event, values: Mapping[str, Any]) -> None:
    array_id = int(ev.data["array_id"])
    rest = state.rests.get(array_id)
    if ev.kind == EventKind.SUBMIT:
        if "spec" not in values:
            spec = {k: v for k, v in ev.data.items() if k in _SPEC_KEYS}
            values = {**values, "spec": spec}
        tmpl = job_from_image(array_id, values)
        tmpl.array_job_id = array_id
        if state.on_rest is not None:
            state.on_rest(tmpl, int(ev.data["tasks"]))
        else:
            state.rests[array_id] = Rest(tmpl, int(ev.data["tasks"]))
        return
    if rest is None:
        return  # its last task left it already (rests of older logs)
    apply_job(rest.template, ev)


_SPEC_KEYS = frozenset(JobSpec.__dataclass_fields__)


def _apply_reservation(state: ClusterState, what: Mapping[str, Any]) -> None:
    created, deleted = what.get("created"), what.get("deleted")
    if created is not None:
        name = str(created["name"])
        if name in state.reservations:
            raise Conflict(f"reservation {name!r} exists already")
        state.reservations = {**state.reservations, name: dict(created)}
    elif deleted is not None:
        if deleted not in state.reservations:
            raise NotFound(f"reservation {deleted!r}: no such reservation")
        state.reservations = {k: v for k, v in state.reservations.items() if k != deleted}


def replay(log: Iterable[Event]) -> ClusterState:
    """A fresh state with every event of `log` applied in seq order."""
    state = ClusterState()
    for ev in sorted(log, key=lambda e: e.seq):
        apply(state, ev)
    return state
