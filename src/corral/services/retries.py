"""Requeues of a run that ended: counted per job and limited (docs/specs/01-job-states.md §4).

A run lost through no doing of the job's own (its node failed or went away, its
prolog failed) sends the job back to the queue while it has retries left: its
`max_retries`, or the site's `controller.max_retries`. A JDL job's own value (its
ShallowRetryCount) is at most the site's, as a gLite WMS caps it; a native job's may
be higher. A run that failed on its own goes back while its `retry_count` (JDL's
RetryCount) allows. Each retry and the final refusal are in the event log with the
limit and the reason.

Pure: each function returns the event of the decision (services/state.py applies
it); the job is not changed, and the time is the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from corral.model.event import Event, EventKind
from corral.model.intent import StopIntent
from corral.model.job import Job
from corral.model.states import JobState
from corral.services.commands import Rules, intent_values, job_change


def retry_limit(rules: Rules, job: Job) -> int:
    """How many automatic requeues the job may have: a JDL job's ShallowRetryCount
    is capped by the site's controller.max_retries, a native job's own value is not."""
    site = rules.max_retries
    own = job.spec.max_retries
    if own is None:
        return site
    return min(own, site) if job.spec.jdl is not None else own


def deep_retry_limit(rules: Rules, job: Job) -> int:
    """How many times a job may run again after failing on its own: its retry_count
    (JDL's RetryCount), at most the site's controller.max_retries."""
    return min(job.spec.retry_count or 0, rules.max_retries)


def back_to_queue(job: Job, now: float, *, hold: bool, why: str,
                  data: Mapping[str, Any] | None = None,
                  values: Mapping[str, Any] | None = None) -> Event:
    """The job's run is over and it waits again (held with `hold`), as a new run:
    restarts + 1, no nodes, times or exit status. `values`: other fields the event
    sets (the ended run's usage, a retry count)."""
    return job_change(job, EventKind.REQUEUE, now, {
        **(values or {}), "restarts": job.restarts + 1, "nodes": (), "t_start": None,
        "t_end": None, "exit_code": None, "signal": None, "cancelled_by_uid": None,
        **intent_values(StopIntent.HOLD_USER if hold else None)},
        to=JobState.HELD if hold else JobState.PENDING, data={"why": why, **(data or {})})


def retry_or_end(rules: Rules, job: Job, now: float, *, why: str, end_state: JobState,
                 intent: StopIntent | None,
                 values: Mapping[str, Any] | None = None) -> Event:
    """Requeue the job as a retry if it may have one, else end it in `end_state`.
    `intent`: what the controller meant by stopping the run (one that ends the job
    is not retried)."""
    limit = retry_limit(rules, job)
    requeueable = job.spec.requeue and not (intent is not None and intent.ends_job)
    if requeueable and job.retries < limit:
        return back_to_queue(job, now, hold=False, why=why,
                             data={"retry": job.retries + 1, "max_retries": limit},
                             values={**(values or {}), "retries": job.retries + 1})
    data: dict[str, Any] = {"why": why}
    if requeueable:
        data.update(not_requeued=f"retry limit reached ({job.retries} of {limit})",
                    retries=job.retries, max_retries=limit)
    return job_change(job, EventKind.STATE, now,
                      {**(values or {}), "t_end": now, **intent_values(None)},
                      to=end_state, data=data)


def retry_failed_run(rules: Rules, job: Job, now: float, *, exit_code: int | None,
                     signal: int | None, values: Mapping[str, Any]) -> Event | None:
    """A run that failed on its own (non-zero exit, a signal): back to the queue with
    the reason if the job has retries left, else None."""
    limit = deep_retry_limit(rules, job)
    if job.deep_retries >= limit:
        return None
    how = f"signal {signal}" if signal else f"exit code {exit_code}"
    return back_to_queue(job, now, hold=False, why=f"the job failed ({how})",
                         data={"retry": job.deep_retries + 1, "retry_count": limit,
                               "kind": "deep", "exit_code": exit_code, "signal": signal},
                         values={**values, "deep_retries": job.deep_retries + 1})


def failed_run_note(rules: Rules, job: Job) -> dict[str, Any]:
    """What the final event of a failed job with a retry count says of its retries."""
    if not job.spec.retry_count:
        return {}
    limit = deep_retry_limit(rules, job)
    return {"not_retried": f"retry count reached ({job.deep_retries} of {limit})",
            "deep_retries": job.deep_retries, "retry_count": limit}
