"""Corral's job states as UWS execution phases, and what a UWS job that did not
complete says of why (its error summary)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from corral.model.intent import NO_REASON
from corral.model.states import JobState
from corral.services.uws.jobs import UwsView


class Phase(StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    ABORTED = "ABORTED"
    UNKNOWN = "UNKNOWN"
    HELD = "HELD"
    SUSPENDED = "SUSPENDED"
    ARCHIVED = "ARCHIVED"


# the phases a WAIT may block in (UWS 1.1 §2.2.1.2)
ACTIVE = frozenset({Phase.PENDING, Phase.QUEUED, Phase.EXECUTING})

PHASE_OF_STATE: dict[JobState, Phase] = {
    JobState.PENDING: Phase.QUEUED,
    JobState.HELD: Phase.HELD,
    JobState.RUNNING: Phase.EXECUTING,
    JobState.COMPLETING: Phase.EXECUTING,
    JobState.SUSPENDED: Phase.SUSPENDED,
    JobState.COMPLETED: Phase.COMPLETED,
    JobState.CANCELLED: Phase.ABORTED,
    JobState.TIMEOUT: Phase.ABORTED,  # over its execution duration: aborted (§2.1.4)
    JobState.PREEMPTED: Phase.ABORTED,
    JobState.FAILED: Phase.ERROR,
    JobState.OUT_OF_MEMORY: Phase.ERROR,
    JobState.NODE_FAIL: Phase.ERROR,
}


def phase_of(v: UwsView) -> Phase:
    if v.record.t_archived is not None:
        return Phase.ARCHIVED
    if v.job is None:
        if v.record.t_aborted is not None:
            return Phase.ABORTED
        return Phase.PENDING if v.record.job_id is None else Phase.UNKNOWN
    return PHASE_OF_STATE.get(v.job.state, Phase.UNKNOWN)


@dataclass(frozen=True, slots=True)
class ErrorSummary:
    transient: bool  # trying again may succeed
    message: str


def error_summary(v: UwsView) -> ErrorSummary | None:
    """Why a job that did not complete did not (None: it completed, or has not ended)."""
    job = v.job
    if job is None:
        if v.record.t_aborted is not None:
            return ErrorSummary(False, "aborted before it ran")
        return None
    state = job.state
    if state == JobState.FAILED:
        how = (f"killed by signal {job.signal}" if job.signal
               else f"exit code {job.exit_code}" if job.exit_code is not None
               else job.reason)
        return ErrorSummary(False, f"the job failed: {how}")
    if state == JobState.OUT_OF_MEMORY:
        return ErrorSummary(False, f"the job ran out of memory (its limit: "
                                   f"{job.mem_mb_per_node} MB)")
    if state == JobState.NODE_FAIL:
        return ErrorSummary(True, "the node running the job failed")
    if state == JobState.TIMEOUT:
        return ErrorSummary(False, f"aborted: it ran over its execution duration of "
                                   f"{job.time_limit_s} s")
    if state == JobState.PREEMPTED:
        return ErrorSummary(True, "aborted: preempted by a job of higher priority")
    if state == JobState.CANCELLED:
        return ErrorSummary(False, "aborted" + (f" ({job.reason})"
                                                if job.reason not in (NO_REASON, "") else ""))
    return None
