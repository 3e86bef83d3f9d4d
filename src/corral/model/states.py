"""Job and node states with their one transition table (docs/specs/01-job-states.md)."""

from __future__ import annotations

from enum import StrEnum

from corral.model.errors import IllegalTransition


class JobState(StrEnum):
    PENDING = "PENDING"
    HELD = "HELD"
    RUNNING = "RUNNING"
    SUSPENDED = "SUSPENDED"
    COMPLETING = "COMPLETING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    PREEMPTED = "PREEMPTED"

    @property
    def is_final(self) -> bool:
        return self in FINAL_JOB_STATES

    @property
    def is_active(self) -> bool:
        """Holds resources on a node (running, suspended or cleaning up)."""
        return self in (JobState.RUNNING, JobState.SUSPENDED, JobState.COMPLETING)

    @property
    def is_waiting(self) -> bool:
        return self in (JobState.PENDING, JobState.HELD)


FINAL_JOB_STATES = frozenset(
    {
        JobState.COMPLETED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.OUT_OF_MEMORY,
        JobState.NODE_FAIL,
        JobState.PREEMPTED,
    }
)

_ENDINGS = FINAL_JOB_STATES  # where an active job may end

# The one table of legal job moves. A requeue is the move of an active or
# final job back to PENDING, or to HELD for a requeue-hold (a "requeue" event).
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.HELD, JobState.RUNNING, JobState.CANCELLED,
                                 JobState.FAILED}),
    JobState.HELD: frozenset({JobState.PENDING, JobState.CANCELLED}),
    JobState.RUNNING: frozenset({JobState.SUSPENDED, JobState.COMPLETING, JobState.PENDING,
                                 JobState.HELD} | _ENDINGS),
    JobState.SUSPENDED: frozenset({JobState.RUNNING, JobState.COMPLETING, JobState.PENDING,
                                   JobState.HELD} | _ENDINGS),
    JobState.COMPLETING: frozenset({JobState.PENDING, JobState.HELD} | _ENDINGS),
    # Final states may only be requeued (back to PENDING or straight to HELD).
    JobState.COMPLETED: frozenset({JobState.PENDING, JobState.HELD}),
    JobState.FAILED: frozenset({JobState.PENDING, JobState.HELD}),
    JobState.CANCELLED: frozenset({JobState.PENDING, JobState.HELD}),
    JobState.TIMEOUT: frozenset({JobState.PENDING, JobState.HELD}),
    JobState.OUT_OF_MEMORY: frozenset({JobState.PENDING, JobState.HELD}),
    JobState.NODE_FAIL: frozenset({JobState.PENDING, JobState.HELD}),
    JobState.PREEMPTED: frozenset({JobState.PENDING, JobState.HELD}),
}


def check_job_transition(job_id: str, old: JobState, new: JobState) -> None:
    """Raise IllegalTransition unless `old -> new` is in the table."""
    if new not in JOB_TRANSITIONS[old]:
        raise IllegalTransition(f"job {job_id}: cannot go from {old} to {new}")


class NodeState(StrEnum):
    IDLE = "IDLE"
    MIXED = "MIXED"
    ALLOCATED = "ALLOCATED"
    DOWN = "DOWN"
    DRAINING = "DRAINING"
    DRAINED = "DRAINED"

    @property
    def accepts_jobs(self) -> bool:
        return self in (NodeState.IDLE, NodeState.MIXED)


def derive_node_state(
    *, reachable: bool, drain: bool, cpus_used: int, cpus_total: int
) -> NodeState:
    """A node's state follows from its facts; it is never stored on its own."""
    if not reachable:
        return NodeState.DOWN
    if drain:
        return NodeState.DRAINING if cpus_used > 0 else NodeState.DRAINED
    if cpus_used <= 0:
        return NodeState.IDLE
    if cpus_used >= cpus_total:
        return NodeState.ALLOCATED
    return NodeState.MIXED
