"""What a scheduling pass decides, as command handlers (services/commands.py):
pure functions of (job, what the core decided, nodes, now) -> Outcome, no I/O,
no clock, no change of the state inside.

- `start`: a job's run begins where the core placed it. It checks that the nodes
  still have room (a job may have ended, a node gone or drained, while the core
  was thinking), chooses the GPU devices the core did not (nodes whose topology
  it does not know), and returns the RUNNING event with the nodes, the CPU and
  GPU ids and the start time, and the launch order for the job's batch node.
- `never_satisfiable`: a job whose dependency can never be satisfied ends FAILED.
- `scheduler_hold`: a job the core fails on is held, with the error as its reason.

The runtime (services/runtime.py `apply_outcome`) applies the events (a start
also takes the run's CPUs, memory and devices on its nodes), commits them and
then sends the orders. tests/api/test_pass_commands.py runs them on a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from corral.model.event import EventKind
from corral.model.gpus import choose as choose_gpus
from corral.model.intent import REASONS, StopIntent
from corral.model.job import NO_GPU_IDS, Job
from corral.model.node import Node
from corral.model.record import assign
from corral.model.states import JobState
from corral.sched.types import Start
from corral.services.commands import Order, Outcome, intent_values, job_change

NEVER_SATISFIABLE = "dependency can never be satisfied"

# the launch order of a job as it will be once started (services/launch.py)
MakeOrder = Callable[[Job], dict[str, Any]]


def fits(job: Job, names: tuple[str, ...], nodes: Mapping[str, Node]) -> bool:
    """Whether each of `names` is up, not drained, and has the job's share free now."""
    if len(names) != job.spec.nodes:
        return False
    cpus = job.spec.cpus_per_node
    for name in names:
        n = nodes.get(name)
        if n is None or not n.reachable or n.drain:
            return False
        if not n.has_room(cpus=n.cpus if job.spec.exclusive else cpus,
                          gpus=job.spec.gpus_per_node, mem_mb=job.mem_mb_per_node or 0):
            return False
    return True


def start(job: Job, placed: Start, nodes: Mapping[str, Node], now: float,
          order: MakeOrder) -> Outcome | None:
    """The job's run on the nodes the pass chose, or None when they no longer have
    room for it or it is no longer pending (the next pass tries again)."""
    if job.state != JobState.PENDING or not fits(job, placed.nodes, nodes):
        return None
    gpus_per_node = job.spec.gpus_per_node
    gpu_ids: dict[str, tuple[int, ...]] = {
        name: gpus for name, _, gpus in placed.placed if gpus_per_node}
    if gpus_per_node:  # the devices of nodes whose topology the core does not know
        for name in placed.nodes:
            if name not in gpu_ids:
                n = nodes[name]
                gpu_ids[name] = choose_gpus(n.gpus, n.gpu_ids_used, gpus_per_node, n.gpu_numa)
    cpu_ids = {name: cpus for name, cpus, _ in placed.placed}
    values: dict[str, Any] = {
        "nodes": placed.nodes, "gpu_ids": gpu_ids or NO_GPU_IDS,
        "cpu_ids": cpu_ids or NO_GPU_IDS, "t_start": now, **intent_values(None)}
    ev = job_change(job, EventKind.STATE, now, values, to=JobState.RUNNING,
                    data={"nodes": list(placed.nodes)})
    launch = Order(placed.nodes[0], order(as_started(job, ev.data["set"])))
    return Outcome((ev,), (launch,), str(JobState.RUNNING))


def as_started(job: Job, values: Mapping[str, Any]) -> Job:
    """A plain copy of `job` with the event's values set (the live job is left as it
    is until the runtime applies the event)."""
    copy = Job.__new__(Job)
    for name in Job.__slots__:
        object.__setattr__(copy, name, getattr(job, name))
    assign(copy, values)
    return copy


def never_satisfiable(job: Job, now: float) -> Outcome:
    """A pending job whose dependency can never be satisfied ends FAILED now."""
    if job.state != JobState.PENDING:
        return Outcome()
    ev = job_change(job, EventKind.STATE, now, {"t_end": now}, to=JobState.FAILED,
                    data={"why": NEVER_SATISFIABLE})
    return Outcome((ev,), (), str(JobState.FAILED))


def scheduler_hold(job: Job, error: str, now: float) -> Outcome:
    """A waiting job the scheduling core fails on is held (a pending one moves to
    HELD), its reason naming the error, until an administrator releases it."""
    if not job.state.is_waiting:
        return Outcome()
    intent = StopIntent.HOLD_SCHEDULER
    values = {"intent": intent, "reason": f"{REASONS[intent]}: {error}"}
    data = {"by": "scheduler", "error": error}
    to = JobState.HELD if job.state == JobState.PENDING else None
    ev = job_change(job, EventKind.HOLD, now, values, to=to, data=data)
    return Outcome((ev,), (), str(to or job.state))
