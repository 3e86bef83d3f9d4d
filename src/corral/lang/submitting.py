"""Submitting the jobs of one JDL, all or none (`corral submit`, `glite-wms-job-submit`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from corral.client.api import Client
from corral.lang.uploads import with_uploads
from corral.model.errors import CorralError, InvalidRequest


def submit_all(client: Client, requests: Sequence[Mapping[str, Any]]) -> list[int]:
    """Every job's id, in order. If one is refused, those already made are cancelled
    and the refusal is raised (naming the job's place in the JDL). Input sandbox files
    are uploaded first, each content once."""
    requests = with_uploads(client, requests)
    if len(requests) == 1:
        return [client.submit(**requests[0])]
    made: list[int] = []
    error: str | None = None
    for got in client.submit_batch(requests):
        if got.ok and got.id is not None:
            made.append(got.id)
        elif error is None:
            error = f"job {got.index + 1} of {len(requests)}: {got.message or got.error}"
    if error is not None:
        for job_id in made:
            with contextlib.suppress(CorralError):
                client.cancel(job_id)
        raise InvalidRequest(error)
    return made
