"""The submit command: (state, rules, caller, request, now, site) -> the submit event.

Every way in comes here: one job (POST /v1/jobs, the drop-in commands), each item of
a batch (POST /v1/jobs:batch), an array (one event for all its tasks), an idempotent
retry's first try. The handler reads no clock, writes nothing and changes nothing:
it authorizes the caller (services/access.py, asking services/authz.py's authorize),
runs the site's submit filter (services/submit_filter.py), resolves the spec against
the partitions, nodes, associations, limits, QOS, reservations and dependencies,
and returns the job as it will be queued and its submit event. What it reads
beyond the state the runtime gathered before (`SubmitSite`: the configuration, the
nodes, the associations, the dependencies' targets loaded from the store).

The runtime (services/runtime.py: run_submit) writes the job's row and this event in
one transaction, where the store gives the job (or the array) its id, then applies
the event with the `apply` that replay uses (services/state.py): a submitted job
enters the queue exactly as a replayed one does. docs/adr/0003-events-and-apply.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from corral.config import Config
from corral.model.arrays import parse_array_cached
from corral.model.deps import Target, parse_dependency
from corral.model.errors import InvalidRequest, NotFound, PermissionDenied
from corral.model.event import Event, EventKind
from corral.model.intent import NO_REASON, REASONS, StopIntent
from corral.model.job import Job, JobSpec
from corral.model.node import Node
from corral.model.record import submit_data
from corral.model.signals import parse_signal_spec
from corral.model.states import JobState
from corral.services.access import UserLookup, local_user
from corral.services.commands import Rules
from corral.services.identity import Caller, RolePolicy
from corral.services.limits import check_at_submit
from corral.services.state import ClusterState
from corral.services.submit import Resolved, resolve


@dataclass(frozen=True, slots=True)
class Submission:
    """A submit request: the job asked for, and for whom (an administrator may name
    another user; None: the caller)."""

    spec: JobSpec
    user: str | None = None


def _accept(caller: Caller, spec: JobSpec) -> JobSpec:
    return spec


def _admit(caller: Caller, user: str, res: Resolved) -> Resolved:
    return res


def _no_qos(qos: str) -> None:
    raise NotFound(f"qos: no QOS named {qos!r} (have: none configured)")


@dataclass(frozen=True, slots=True)
class SubmitSite:
    """What a submission is checked against besides the state: the site's
    configuration and nodes, and the answers of the controller's other parts, read
    in memory (the runtime loaded from the store what they need first)."""

    cfg: Config
    nodes: Collection[Node]
    roles: RolePolicy = dataclasses.field(default_factory=RolePolicy)
    lookup_user: UserLookup = local_user  # a user named by an administrator
    # the site's submit filter: the job as it accepts it (SubmitRefused if not)
    submit_filter: Callable[[Caller, JobSpec], JobSpec] = _accept
    # the owner's associations: the default account filled in, their limits checked
    admit: Callable[[Caller, str, Resolved], Resolved] = _admit
    check_qos: Callable[[str], None] = _no_qos
    has_credential: Callable[[int], bool] = lambda uid: False
    dependency_target: Callable[[Target], bool] = lambda target: False


@dataclass(frozen=True, slots=True)
class Submitted:
    """The submit command's outcome: the job (an array's template) as it will be
    queued, which its row is written from, and its submit event, whose job id (or
    array id) the store gives at commit (`with_id`)."""

    job: Job
    event: Event
    tasks: int  # an array's task count; 0: a plain job
    owner: Caller

    def with_id(self, first: int) -> Event:
        """The event with the id the store gave: the job's, or the array's."""
        if self.tasks:
            return dataclasses.replace(self.event, data={**self.event.data, "array_id": first})
        return dataclasses.replace(self.event, job_id=first)


def submit(state: ClusterState, rules: Rules, caller: Caller, req: Submission, now: float,
           site: SubmitSite) -> Submitted:
    """Check a submission and say what it queues; CorralError (one line naming the
    field, the value and the limit) when it is refused."""
    spec = req.spec
    owner = rules.access.submit_owner(caller, req.user, site.roles, site.lookup_user)
    rules.access.check_submit(caller, spec)  # privileged fields
    if spec.credential and not site.has_credential(owner.uid):
        raise InvalidRequest(
            f"credential: the controller holds no sign-in of {owner.user} to give the "
            "job: submit it with 'corral submit --credential' over https after "
            "'corral login' (the client hands its sign-in over)")
    spec = site.submit_filter(caller, spec)  # the site's: may refuse or amend
    res = site.admit(caller, owner.user, resolve(spec, site.cfg, site.nodes))
    part = site.cfg.partition(res.partition)
    assert part is not None  # resolve() found it
    check_at_submit(site.cfg, part, res.spec, owner.user, owner.uid)
    arr = parse_array_cached(spec.array) if spec.array else None
    if spec.signal:
        parse_signal_spec(spec.signal)
    if spec.dependency:
        for dep in parse_dependency(spec.dependency):
            for t in dep.targets:
                if not site.dependency_target(t):
                    raise InvalidRequest(f"dependency: job {t} does not exist")
    if res.spec.qos:
        site.check_qos(res.spec.qos)
    if spec.reservation:
        check_reservation(state, spec.reservation, owner.user, res.spec.account, now)
    held = spec.hold
    job = Job(
        id=0, spec=res.spec, user=owner.user, uid=owner.uid, gid=owner.gid,
        state=JobState.HELD if held else JobState.PENDING, t_submit=now,
        partition=res.partition, time_limit_s=res.time_limit_s,
        mem_mb_per_node=res.mem_mb_per_node,
        intent=StopIntent.HOLD_USER if held else None,
        reason=REASONS[StopIntent.HOLD_USER] if held else NO_REASON,
    )
    tasks = len(arr.task_ids) if arr is not None else 0
    data: dict[str, Any] = submit_data(job)
    if tasks:  # one record for all its tasks until they start; its id given at commit
        data = {"tasks": tasks, **data, "array_id": 0}
    ev = Event(seq=0, job_id=None, t=now, kind=EventKind.SUBMIT, from_state=None,
               to_state=str(job.state), data=data)
    return Submitted(job=job, event=ev, tasks=tasks, owner=owner)


def check_reservation(state: ClusterState, name: str, user: str, account: str | None,
                      now: float) -> None:
    """A job may name only a reservation that exists and admits it."""
    r = state.reservations.get(name)
    if r is None or r["t_end"] <= now:
        raise NotFound(f"reservation: no current reservation named {name!r}")
    if r["maintenance"]:
        raise PermissionDenied(f"reservation {name!r} is a maintenance window")
    users, accounts = r["users"], r["accounts"]
    if (users or accounts) and user not in users and account not in accounts:
        raise PermissionDenied(f"reservation {name!r} does not admit user {user!r}")
