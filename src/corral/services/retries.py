"""Automatic requeues: counted per job and limited (docs/specs/01-job-states.md §4).

A run lost through no doing of the job's own (its node failed or went away, its
prolog failed) sends the job back to the queue while it has retries left: its
`max_retries`, or the site's `controller.max_retries`. A JDL job's own value (its
ShallowRetryCount) is at most the site's, as a gLite WMS caps it; a native job's may
be higher. Each retry and the final refusal are in the event log with the limit and
the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral.model.job import Job
from corral.model.states import JobState
from corral.services.intents import clear_intent

if TYPE_CHECKING:
    from corral.services.controller import Controller


def retry_limit(ctl: Controller, job: Job) -> int:
    """How many automatic requeues the job may have: a JDL job's ShallowRetryCount
    is capped by the site's controller.max_retries, a native job's own value is not."""
    site = ctl.cfg.controller.max_retries
    own = job.spec.max_retries
    if own is None:
        return site
    return min(own, site) if job.spec.jdl is not None else own


def retry_or_end(ctl: Controller, job: Job, *, why: str,
                 end_state: JobState) -> Callable[[Connection], Any]:
    """Requeue the job as a retry if it may have one; else end it in `end_state`.
    Returns the store op (memory has changed already)."""
    limit = retry_limit(ctl, job)
    requeueable = job.spec.requeue and not (job.intent is not None and job.intent.ends_job)
    if requeueable and job.retries < limit:
        job.retries += 1
        return ctl.back_to_queue(job, hold=False, why=why,
                                 data={"retry": job.retries, "max_retries": limit})
    ctl.release_resources(job)
    job.t_end = time.time()
    clear_intent(job)
    data: dict[str, Any] = {"why": why}
    if requeueable:
        data.update(not_requeued=f"retry limit reached ({job.retries} of {limit})",
                    retries=job.retries, max_retries=limit)
    return ctl.change(job, end_state, data=data)


def deep_retry_limit(ctl: Controller, job: Job) -> int:
    """How many times a job may run again after failing on its own: its retry_count
    (JDL's RetryCount), at most the site's controller.max_retries."""
    return min(job.spec.retry_count or 0, ctl.cfg.controller.max_retries)


def retry_failed_run(ctl: Controller, job: Job) -> Callable[[Connection], Any] | None:
    """A run that failed on its own (non-zero exit, a signal): back to the queue with
    the reason if the job has retries left (the store op), else None."""
    limit = deep_retry_limit(ctl, job)
    if job.deep_retries >= limit:
        return None
    how = (f"signal {job.signal}" if job.signal else f"exit code {job.exit_code}")
    job.deep_retries += 1
    return ctl.back_to_queue(job, hold=False, why=f"the job failed ({how})",
                             data={"retry": job.deep_retries, "retry_count": limit,
                                   "kind": "deep", "exit_code": job.exit_code,
                                   "signal": job.signal})


def failed_run_note(ctl: Controller, job: Job) -> dict[str, Any]:
    """What the final event of a failed job with a retry count says of its retries."""
    if not job.spec.retry_count:
        return {}
    limit = deep_retry_limit(ctl, job)
    return {"not_retried": f"retry count reached ({job.deep_retries} of {limit})",
            "deep_retries": job.deep_retries, "retry_count": limit}
