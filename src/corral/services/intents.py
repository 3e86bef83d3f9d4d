"""Setting a job's intent (corral.model.intent) together with the reason it shows."""

from __future__ import annotations

from corral.model.intent import NO_REASON, REASONS, StopIntent
from corral.model.job import Job


def set_intent(job: Job, intent: StopIntent, detail: str = "") -> None:
    """Say why the job's run is being stopped (or who holds it), with the reason it
    shows meanwhile (`detail` after a colon). Stored with the job's next save."""
    job.intent = intent
    job.reason = f"{REASONS[intent]}: {detail}" if detail else REASONS[intent]


def clear_intent(job: Job) -> None:
    """The job is neither being stopped nor held: nothing to show as its reason."""
    job.intent = None
    job.reason = NO_REASON

