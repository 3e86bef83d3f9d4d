"""POST /v1/jobs:batch: many submissions in one request (docs/specs/05-rest-api.md).

Each item is checked exactly as a single submit is; a refused item is answered with
its index and a one-line message and does not stop the others. The accepted ones
are persisted together: their store writes go into the same group commits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ValidationError

from corral.api.errors import validation_message
from corral.api.responses import BatchAnswer, BatchItem
from corral.api.routes_jobs import CallerDep, CtlDep
from corral.api.schemas import SubmitRequest
from corral.model.errors import CorralError, InvalidRequest
from corral.services.controller import Controller
from corral.services.identity import Caller
from corral.services.sandboxes import check_stored

log = logging.getLogger("corral.api")
router = APIRouter(prefix="/v1")

MAX_BATCH_JOBS = 1000  # the SDK splits larger batches (corral.client.batch)
IN_FLIGHT = 250  # items of a batch being submitted at once


class BatchSubmitRequest(BaseModel):
    jobs: list[Any]  # each one a submit request, checked one by one


async def _one(ctl: Controller, caller: Caller, index: int, item: Any) -> BatchItem:
    try:
        body = SubmitRequest.model_validate(item)
    except ValidationError as e:
        return BatchItem(index=index, error="invalid",
                         message=validation_message(e.errors()[0]))
    replayed = None
    try:
        spec = body.to_spec()
        check_stored(spec, ctl.cfg)  # its input sandbox files uploaded
        if body.idempotency_key is None:
            ids = await ctl.submit(caller, spec, user=body.user)
        else:  # as a single submit's key (spec 05 §5)
            ids, replayed = await ctl.idempotent.submit(caller, spec, body.user,
                                                        body.idempotency_key)
    except CorralError as e:
        return BatchItem(index=index, error=e.code, message=" ".join(e.message.split()))
    except Exception:  # a defect: say so for this item, keep the others' answers
        log.exception("batch submit: item %d failed", index)
        return BatchItem(index=index, error="error", message="internal error (see the "
                         "controller's log)")
    return BatchItem(index=index, id=min(ids), ids=ids, replayed=replayed or None)


@router.post("/jobs:batch", response_model=BatchAnswer)
async def submit_batch(body: BatchSubmitRequest, caller: CallerDep,
                       ctl: CtlDep) -> BatchAnswer:
    n = len(body.jobs)
    if n == 0:
        raise InvalidRequest("jobs: an empty list (give 1 to "
                             f"{MAX_BATCH_JOBS} submit requests)")
    if n > MAX_BATCH_JOBS:
        raise InvalidRequest(f"jobs: {n} submit requests is more than the limit of "
                             f"{MAX_BATCH_JOBS} a request (split them)")
    # IN_FLIGHT items at a time: enough to fill the writer's group commits, few
    # enough that a full batch does not hold a thousand half-done submits (a few KB
    # each) in memory at once
    answers: list[BatchItem | None] = [None] * n
    items = iter(enumerate(body.jobs))

    async def submitter() -> None:
        for i, item in items:
            answers[i] = await _one(ctl, caller, i, item)
    await asyncio.gather(*(submitter() for _ in range(min(n, IN_FLIGHT))))
    results = [a for a in answers if a is not None]
    refused = sum(1 for r in results if r.error)
    return BatchAnswer(accepted=n - refused, refused=refused, results=list(results))
