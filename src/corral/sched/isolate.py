"""Which pending jobs make a scheduling cycle raise (docs/specs/03-scheduler.md §Faults).

A cycle that raises would stop scheduling for everybody, pass after pass. When it
does, the controller asks `failing_jobs` which pending jobs are the cause: the queue
is halved, and each half that still raises halved again, down to single jobs, so a
few bad jobs among n cost O(log n) cycles each. The controller holds the jobs found
(reason SchedulingFailed) and schedules the others. A fault that needs two jobs
together, or one that no pending job causes, is not isolated: the pass fails as a
whole, as before, and is retried at the next kick.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from corral.sched.cycle import run_cycle
from corral.sched.policies import Policy
from corral.sched.types import PendingView, Snapshot

MAX_ERROR_LEN = 200


def describe_error(err: BaseException) -> str:
    """An exception on one short line: its type and message."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= MAX_ERROR_LEN else text[: MAX_ERROR_LEN - 3] + "..."


def failing_jobs(snapshot: Snapshot, policy: Policy, now: float) -> dict[int, str]:
    """The pending jobs that alone make `run_cycle` raise, each with its error."""
    found: dict[int, str] = {}

    def error_with(pending: Sequence[PendingView]) -> str | None:
        try:
            run_cycle(dataclasses.replace(snapshot, pending=tuple(pending)), policy, now)
        except Exception as err:  # whatever a policy raises: that is what is looked for
            return describe_error(err)
        return None

    def search(pending: Sequence[PendingView], error: str) -> None:
        if len(pending) == 1:
            found[pending[0].job_id] = error
            return
        mid = len(pending) // 2
        for half in (pending[:mid], pending[mid:]):
            half_error = error_with(half)
            if half_error is not None:
                search(half, half_error)

    first = error_with(snapshot.pending)
    if first is not None and snapshot.pending:
        search(snapshot.pending, first)
    return found
