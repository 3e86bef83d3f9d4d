"""Why the controller is stopping a job's run, or keeping a job from running.

A job's `intent` is what its next report (or release) is read against: the agent
says how a run ended, the intent says what the controller meant by stopping it.
It is stored with the job, so a controller that restarts while a run is being
stopped still ends or requeues it as it was asked to. It is never shown to users:
`Job.reason` is the text they see (docs/specs/01-job-states.md §4a).
"""

from __future__ import annotations

from enum import StrEnum


class StopIntent(StrEnum):
    # a run being stopped (the job is RUNNING, SUSPENDED or COMPLETING)
    CANCEL = "cancel"  # ends CANCELLED (COMPLETED if it had finished already)
    ALLOCATION_ENDED = "allocation_ended"  # its client ended it: its exit code decides
    REQUEUE = "requeue"  # back to PENDING
    REQUEUE_HOLD = "requeue_hold"  # back to HELD
    PREEMPT_REQUEUE = "preempt_requeue"  # preempted: back to PENDING
    PREEMPT_CANCEL = "preempt_cancel"  # preempted: ends PREEMPTED
    PROLOG_FAILED_ELSEWHERE = "prolog_failed_elsewhere"  # a retry, or FAILED
    # a job kept from running (HELD) until it is released
    HOLD_USER = "hold_user"  # its owner (or a submit with hold) holds it
    HOLD_ADMIN = "hold_admin"  # an administrator holds it: only one may release it
    HOLD_SCHEDULER = "hold_scheduler"  # it made a scheduling pass fail

    @property
    def requeues(self) -> bool:
        """The stopped run goes back to the queue."""
        return self in _REQUEUES

    @property
    def ends_job(self) -> bool:
        """The stopped run is the job's last: it is not retried if its node is lost."""
        return self in _ENDS


_REQUEUES = frozenset({StopIntent.REQUEUE, StopIntent.REQUEUE_HOLD,
                       StopIntent.PREEMPT_REQUEUE})
_ENDS = frozenset({StopIntent.CANCEL, StopIntent.ALLOCATION_ENDED,
                   StopIntent.PREEMPT_CANCEL})


# What a job shows as its reason when nothing keeps it back or stops it.
NO_REASON = "None"

# What a job shows as its reason meanwhile (SchedulingFailed: with the error).
REASONS: dict[StopIntent, str] = {
    StopIntent.CANCEL: "Cancelled",
    StopIntent.ALLOCATION_ENDED: "Ended",
    StopIntent.REQUEUE: "Requeue",
    StopIntent.REQUEUE_HOLD: "RequeueHold",
    StopIntent.PREEMPT_REQUEUE: "PreemptRequeue",
    StopIntent.PREEMPT_CANCEL: "Preempted",
    StopIntent.PROLOG_FAILED_ELSEWHERE: "PrologFailed",
    StopIntent.HOLD_USER: "JobHeldUser",
    StopIntent.HOLD_ADMIN: "JobHeldAdmin",
    StopIntent.HOLD_SCHEDULER: "SchedulingFailed",
}


def parse_intent(text: str | None) -> StopIntent | None:
    """A stored intent (None or empty: none)."""
    return StopIntent(text) if text else None
