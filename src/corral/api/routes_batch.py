"""POST /v1/jobs:batch: many submissions in one request (docs/specs/05-rest-api.md).

Each item is checked exactly as a single submit is; a refused item is answered with
its index and a one-line message and does not stop the others. The items are
taken a slice at a time: the slice's plain jobs are decided one after the other
and inserted together (Controller.submit_all: one insert, one group commit, one
log line and one scheduling pass for the slice), an item with an idempotency key
as a single submit with that key.
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
from corral.model.job import JobSpec
from corral.services.controller import Controller
from corral.services.identity import Caller
from corral.services.sandboxes import check_stored
from corral.services.submission import Submission

log = logging.getLogger("corral.api")
router = APIRouter(prefix="/v1")

MAX_BATCH_JOBS = 1000  # the SDK splits larger batches (corral.client.batch)
SLICE = 250  # items of a batch checked and submitted together
SLICES_IN_FLIGHT = 2
INTERNAL = "internal error (see the controller's log)"


class BatchSubmitRequest(BaseModel):
    jobs: list[Any]  # each one a submit request, checked one by one


def _checked(ctl: Controller, index: int, item: Any
             ) -> tuple[SubmitRequest, JobSpec] | BatchItem:
    """An item as a single submit reads it: its request and job, or its refusal."""
    try:
        body = SubmitRequest.model_validate(item)
    except ValidationError as e:
        return BatchItem(index=index, error="invalid",
                         message=validation_message(e.errors()[0]))
    try:
        spec = body.to_spec()
        check_stored(spec, ctl.cfg)  # its input sandbox files uploaded
    except CorralError as e:
        return _refused(index, e)
    return body, spec


def _refused(index: int, e: CorralError) -> BatchItem:
    return BatchItem(index=index, error=e.code, message=" ".join(e.message.split()))


def _internal(index: int) -> BatchItem:
    """A defect: said for this item, the others keep their answers."""
    log.exception("batch submit: item %d failed", index)
    return BatchItem(index=index, error="error", message=INTERNAL)


async def _keyed(ctl: Controller, caller: Caller, index: int, body: SubmitRequest,
                 spec: JobSpec) -> BatchItem:
    """An item with an idempotency key: as a single submit with that key (spec 05 §5)."""
    assert body.idempotency_key is not None
    try:
        ids, replayed = await ctl.idempotent.submit(caller, spec, body.user,
                                                    body.idempotency_key)
    except CorralError as e:
        return _refused(index, e)
    except Exception:
        return _internal(index)
    return BatchItem(index=index, id=min(ids), ids=ids, replayed=replayed or None)


async def _slice(ctl: Controller, caller: Caller, items: list[tuple[int, Any]],
                 answers: list[BatchItem | None]) -> None:
    """Some items, checked then submitted together (Controller.submit_all): the plain
    ones in one insert, each keyed one as its own submit."""
    plain: list[tuple[int, Submission]] = []
    keyed = []
    for index, item in items:
        got = _checked(ctl, index, item)
        if isinstance(got, BatchItem):
            answers[index] = got
        elif got[0].idempotency_key is not None:
            keyed.append(_keyed(ctl, caller, index, *got))
        else:
            plain.append((index, Submission(got[1], got[0].user)))
    done = asyncio.gather(*keyed)
    try:
        outcomes = await ctl.submit_all(caller, [req for _, req in plain])
    except Exception:
        log.exception("batch submit: items %s failed", [index for index, _ in plain])
        outcomes = []
        for index, _ in plain:
            answers[index] = BatchItem(index=index, error="error", message=INTERNAL)
    for (index, _), outcome in zip(plain, outcomes, strict=False):
        if isinstance(outcome, CorralError):
            answers[index] = _refused(index, outcome)
        else:
            answers[index] = BatchItem(index=index, id=min(outcome), ids=outcome)
    for answer in await done:
        answers[answer.index] = answer


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
    # SLICE items are checked and handed to the writer together; SLICES_IN_FLIGHT
    # slices at a time: the next one is checked while the writer commits the last,
    # and a full batch does not hold a thousand half-done submits in memory at once
    answers: list[BatchItem | None] = [None] * n
    slices = iter([list(enumerate(body.jobs))[i:i + SLICE] for i in range(0, n, SLICE)])

    async def submitter() -> None:
        for items in slices:
            await _slice(ctl, caller, items, answers)
    await asyncio.gather(*(submitter() for _ in range(SLICES_IN_FLIGHT)))
    results = [a for a in answers if a is not None]
    refused = sum(1 for r in results if r.error)
    return BatchAnswer(accepted=n - refused, refused=refused, results=list(results))
