"""Command handlers: functions of (state, caller, request, now) -> (events, orders).

No I/O, no clock, no change of the state inside: a handler checks the request
against the state (authorization through services/access.py, which asks the one
authorization point, services/authz.py's authorize), and says what should happen
as events (services/state.py applies them, the writer stores them) and as orders
to agents. The controller's runtime (services/control.py, services/reservations.py)
calls them, applies their events at once (so the next command sees them) and
persists. tests/api/test_commands.py runs them with a fake clock.
"""

from __future__ import annotations

import dataclasses
import signal as signals
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.model.errors import Conflict, InvalidRequest, NotFound
from corral.model.event import Event, EventKind
from corral.model.intent import NO_REASON, REASONS, StopIntent
from corral.model.job import Job, JobSpec
from corral.model.record import encode_value
from corral.model.states import JobState, check_job_transition
from corral.services.access import Access
from corral.services.authz import Action, authorize
from corral.services.identity import Caller
from corral.services.launch import term_signal
from corral.services.state import ALWAYS, SET, ClusterState
from corral.services.submit import Resolved


@dataclass(frozen=True, slots=True)
class Order:
    """What an agent is told to do: a node and the order's body."""

    node: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    events: tuple[Event, ...] = ()
    orders: tuple[Order, ...] = ()
    answer: str = ""  # the job's state as the request's answer


@dataclass(frozen=True, slots=True)
class Rules:
    """What the site says that the handlers need (from its configuration)."""

    access: Access = field(default_factory=Access)
    kill_grace_s: float = 30.0
    max_retries: int = 3  # automatic requeues of a job that does not say (its max_retries)
    # how a partition's running jobs are preempted (off, requeue, cancel, suspend),
    # and, for a partition that says "off", a QOS's (requeue, cancel)
    preempt_modes: Mapping[str, str] = field(default_factory=dict)
    qos_preempt_modes: Mapping[str, str] = field(default_factory=dict)


def job_change(job: Job, kind: EventKind, now: float, values: Mapping[str, Any], *,
               to: JobState | None = None, data: Mapping[str, Any] | None = None) -> Event:
    """The event that sets `values` (Job field -> value) on the job, and moves it to
    `to` if given (checked against the one transition table)."""
    enc = {name: encode_value(name, getattr(job, name)) for name in ALWAYS}
    enc.update({name: encode_value(name, v) for name, v in values.items()})
    from_state = to_state = None
    if to is not None:
        check_job_transition(str(job.id), job.state, to)
        enc["state"] = str(to)
        from_state, to_state = str(job.state), str(to)
    return Event(seq=0, job_id=job.id, t=now, kind=kind, from_state=from_state,
                 to_state=to_state, data={**(data or {}), SET: enc})


def intent_values(intent: StopIntent | None) -> dict[str, Any]:
    """The fields that say why a run is being stopped (or who holds the job), with
    the reason it shows meanwhile; None: neither."""
    return {"intent": intent, "reason": REASONS[intent] if intent is not None else NO_REASON}


def _job(state: ClusterState, rules: Rules, caller: Caller, job_id: int,
         action: Action) -> Job:
    job = state.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id}: no such job in the queue")
    rules.access.check_acts_on(caller, job, action)
    return job


def kill_orders(job: Job, rules: Rules) -> tuple[Order, ...]:
    """The agents of a job whose run is being stopped kill it there."""
    return tuple(Order(node, {"kind": "cancel", "job_id": job.id, "signal": term_signal(job),
                              "grace_s": rules.kill_grace_s}) for node in job.nodes)


# ---- jobs ----------------------------------------------------------------------------
def cancel(state: ClusterState, rules: Rules, caller: Caller, job_id: int,
           now: float) -> Outcome:
    """A waiting job ends CANCELLED now; a running one is stopped (COMPLETING, its
    agents told to kill it) and ends when they report; a finished one stays."""
    job = _job(state, rules, caller, job_id, Action.CANCEL)
    if job.state.is_final:
        return Outcome(answer=str(job.state))
    by = {"by": caller.user}
    if job.state.is_waiting:
        ev = job_change(job, EventKind.STATE, now, {"cancelled_by_uid": caller.uid,
                                                   "t_end": now, **intent_values(None)},
                        to=JobState.CANCELLED, data=by)
        return Outcome((ev,), answer=str(JobState.CANCELLED))
    values = {"cancelled_by_uid": caller.uid, **intent_values(StopIntent.CANCEL)}
    data = {**by, "action": "cancel"}
    ev = job_change(job, EventKind.STATE, now, values, to=JobState.COMPLETING, data=data) \
        if job.state != JobState.COMPLETING else \
        job_change(job, EventKind.UPDATE, now, values, data=data)
    return Outcome((ev,), kill_orders(job, rules), answer=str(JobState.COMPLETING))


def hold(state: ClusterState, rules: Rules, caller: Caller, job_id: int,
         now: float) -> Outcome:
    """A pending job is held by its owner, or by an operator (then only one releases
    it); a held one stays as it is."""
    job = _job(state, rules, caller, job_id, Action.HOLD)
    if job.state == JobState.HELD:
        return Outcome(answer=str(job.state))
    if job.state != JobState.PENDING:
        raise Conflict(f"job {job_id}: only a pending job can be held (it is {job.state})")
    held_by = rules.access.held_by(caller, job.uid)
    ev = job_change(job, EventKind.HOLD, now, intent_values(held_by), to=JobState.HELD,
                    data={"by": caller.user})
    return Outcome((ev,), answer=str(JobState.HELD))


def release(state: ClusterState, rules: Rules, caller: Caller, job_id: int,
            now: float) -> Outcome:
    job = _job(state, rules, caller, job_id, Action.RELEASE)
    if job.state != JobState.HELD:
        raise Conflict(f"job {job_id}: only a held job can be released (it is {job.state})")
    rules.access.check_release(caller, job)
    ev = job_change(job, EventKind.RELEASE, now, intent_values(None), to=JobState.PENDING,
                    data={"by": caller.user})
    return Outcome((ev,), answer=str(JobState.PENDING))


def signal(state: ClusterState, rules: Rules, caller: Caller, job_id: int, signum: int,
           now: float, *, target: str = "all", step_id: int | None = None) -> Outcome:
    """Send a running job's processes a signal (its batch script's or its steps')."""
    job = _job(state, rules, caller, job_id, Action.SIGNAL)
    if not job.state.is_active:
        return Outcome(answer=str(job.state))
    body = {"signal": signum, "target": target, "step_id": step_id}
    ev = job_change(job, EventKind.SIGNAL, now, {}, data=body)
    return Outcome((ev,), tuple(Order(node, {"kind": "signal", "job_id": job.id, **body})
                                for node in job.nodes), answer=str(job.state))


def requeue(state: ClusterState, rules: Rules, caller: Caller, job_id: int, now: float, *,
            hold: bool = False) -> Outcome:
    """Back to the queue (held with `hold`): a finished job at once, as a new run
    (restarts + 1); a running one once its agents have killed it (its intent says
    so, for their report)."""
    job = _job(state, rules, caller, job_id, Action.REQUEUE)
    if job.state.is_waiting:
        raise Conflict(f"job {job_id}: is {job.state}, not running or finished")
    if job.state.is_active:
        intent = StopIntent.REQUEUE_HOLD if hold else StopIntent.REQUEUE
        ev = job_change(job, EventKind.UPDATE, now, intent_values(intent),
                        data={"requeue_requested": True, "hold": hold})
        return Outcome((ev,), kill_orders(job, rules), answer=str(job.state))
    to = JobState.HELD if hold else JobState.PENDING
    ev = job_change(job, EventKind.REQUEUE, now, {
        "restarts": job.restarts + 1, "nodes": (), "t_start": None, "t_end": None,
        "exit_code": None, "signal": None, "cancelled_by_uid": None,
        **intent_values(StopIntent.HOLD_USER if hold else None)}, to=to,
        data={"why": f"requeued by {caller.user}"})
    return Outcome((ev,), answer=str(to))


def end_allocation(state: ClusterState, rules: Rules, caller: Caller, job_id: int,
                   exit_code: int, now: float) -> Outcome:
    """The client of a running allocation (salloc) is done: its run is stopped (its
    agents told to kill it) and ends COMPLETED, or FAILED with the client's exit code,
    when they report (the caller keeps the code for that report)."""
    job = _job(state, rules, caller, job_id, Action.STEP)
    if not job.spec.interactive:
        raise Conflict(f"job {job_id}: is a batch job; only allocations are ended "
                       "by their client (cancel it instead)")
    if job.state.is_final or job.state == JobState.COMPLETING or not job.state.is_active:
        return Outcome(answer=str(job.state))
    ev = job_change(job, EventKind.STATE, now, intent_values(StopIntent.ALLOCATION_ENDED),
                    to=JobState.COMPLETING, data={"by": caller.user, "action": "end",
                                                  "exit_code": exit_code})
    return Outcome((ev,), kill_orders(job, rules), str(JobState.COMPLETING))


# ---- preemption ----------------------------------------------------------------------
def preempt_mode(rules: Rules, job: Job) -> str:
    """How the job is preempted: as its partition says, or, preempted through its QOS
    (its partition says "off"), as that QOS says ("off": it is not)."""
    mode = rules.preempt_modes.get(job.partition, "off")
    if mode == "off":
        return rules.qos_preempt_modes.get(job.spec.qos or "", "off")
    return mode


def preempt(state: ClusterState, rules: Rules, job_id: int, preemptor: int | None,
            now: float) -> Outcome:
    """A running job makes room for a higher-tier or higher-QOS one (`preemptor`):
    suspended (its agents stop it), or stopped to be requeued or to end PREEMPTED
    (its intent says which, for its agents' report). Not running, or not
    preemptible: nothing."""
    job = state.jobs.get(job_id)
    if job is None or job.state != JobState.RUNNING:
        return Outcome()
    mode = preempt_mode(rules, job)
    if mode == "off":
        return Outcome()
    if mode == "suspend":
        ev = job_change(job, EventKind.STATE, now, {}, to=JobState.SUSPENDED, data={
            "action": "preempt", "mode": mode, "for": preemptor})
        return Outcome((ev,), _signal_orders(job, signals.SIGSTOP), str(JobState.SUSPENDED))
    intent = StopIntent.PREEMPT_REQUEUE if mode == "requeue" and job.spec.requeue \
        else StopIntent.PREEMPT_CANCEL
    ev = job_change(job, EventKind.STATE, now, intent_values(intent), to=JobState.COMPLETING,
                    data={"action": "preempt", "mode": mode})
    return Outcome((ev,), kill_orders(job, rules), str(JobState.COMPLETING))


def resume(state: ClusterState, job_id: int, preemptor: int | None, now: float) -> Outcome:
    """A suspended job runs again once the job it made room for has ended (or is gone
    from the queue); the runtime checks first that its CPUs are free again."""
    job = state.jobs.get(job_id)
    if job is None or job.state != JobState.SUSPENDED:
        return Outcome()
    other = state.jobs.get(preemptor) if preemptor is not None else None
    if other is not None and not other.state.is_final:
        return Outcome()  # still waiting to start, or running, on the lent CPUs
    ev = job_change(job, EventKind.STATE, now, {}, to=JobState.RUNNING,
                    data={"action": "resume"})
    return Outcome((ev,), _signal_orders(job, signals.SIGCONT), str(JobState.RUNNING))


def _signal_orders(job: Job, signum: int) -> tuple[Order, ...]:
    return tuple(Order(node, {"kind": "signal", "job_id": job.id, "signal": int(signum)})
                 for node in job.nodes)


UPDATABLE_FIELDS = ("name", "time_limit_s", "nice", "priority", "partition", "t_begin",
                    "cpus_per_node", "mem_mb_per_node", "account")

# The spec as changed -> it resolved against the site's partitions and nodes and, for
# the fields that need it, the owner's associations (services/submit.py's resolve).
Resolver = Callable[[Job, JobSpec], Resolved]


def check_update_fields(job_id: int, fields: Mapping[str, Any], state: JobState) -> None:
    unknown = sorted(set(fields) - set(UPDATABLE_FIELDS))
    if unknown:
        raise InvalidRequest(f"update: field {unknown[0]!r} cannot be changed "
                             f"(can: {', '.join(UPDATABLE_FIELDS)})")
    if not state.is_waiting and set(fields) - {"time_limit_s", "name", "nice"}:
        raise Conflict(f"job {job_id}: is {state}; only time_limit_s, name and nice "
                       "can change after it starts")


def update(state: ClusterState, rules: Rules, caller: Caller, job_id: int,
           fields: Mapping[str, Any], now: float, resolver: Resolver) -> Outcome:
    """Change a job's spec: a waiting job's any updatable field, a running one's
    name, nice and time limit (raising it needs an operator)."""
    job = _job(state, rules, caller, job_id, Action.UPDATE)
    check_update_fields(job_id, fields, job.state)
    res = resolver(job, dataclasses.replace(job.spec, **fields))
    rules.access.check_update(caller, job, fields, res.time_limit_s)
    ev = job_change(job, EventKind.UPDATE, now, {
        "spec": res.spec, "partition": res.partition, "time_limit_s": res.time_limit_s,
        "mem_mb_per_node": res.mem_mb_per_node}, data={"fields": dict(fields),
                                                        "by": caller.user})
    return Outcome((ev,), answer=str(job.state))


# ---- reservations -------------------------------------------------------------------
def reservation_event(now: float, what: dict[str, Any]) -> Event:
    """A change of the reservations, as an event replay applies (services/state.py)."""
    return Event(seq=0, job_id=None, t=now, kind=EventKind.UPDATE, data={"reservation": what})


def create_reservation(state: ClusterState, caller: Caller, r: Mapping[str, Any],
                       now: float, nodes: frozenset[str]) -> Outcome:
    """`r`: the reservation as its to_dict() (services/reservations.py); `nodes`: the
    nodes the cluster knows."""
    name = str(r["name"])
    authorize(caller, Action.CREATE_RESERVATION, what=f"create reservation {name}")
    if name in state.reservations:
        raise Conflict(f"reservation {name!r} exists already")
    if r["t_end"] <= r["t_start"]:
        raise InvalidRequest(f"reservation {name!r}: it ends before it starts")
    if r["t_end"] <= now:
        raise InvalidRequest(f"reservation {name!r}: its window is in the past")
    unknown = sorted(set(r["nodes"]) - nodes)
    if unknown:
        raise NotFound(f"reservation {name!r}: no node named {unknown[0]!r}")
    return Outcome((reservation_event(now, {"created": dict(r), "by": caller.user}),))


def delete_reservation(state: ClusterState, caller: Caller, name: str,
                       now: float) -> Outcome:
    authorize(caller, Action.DELETE_RESERVATION, what=f"delete reservation {name}")
    if name not in state.reservations:
        raise NotFound(f"reservation {name!r}: no such reservation")
    return Outcome((reservation_event(now, {"deleted": name, "by": caller.user}),))
