"""/v1/jobs: submit, query and control jobs (docs/specs/05-rest-api.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel

from corral.api.auth import user_caller
from corral.api.query import split_values as _split
from corral.api.responses import (
    ArrayUpdated,
    Estimate,
    EventList,
    Explanation,
    Job,
    JobList,
    JobListBrief,
    Requeued,
    StateChange,
    Submitted,
)
from corral.api.schemas import CancelRequest, RequeueRequest, SubmitRequest, UpdateRequest
from corral.model.errors import InvalidRequest, NotFound
from corral.model.jobid import parse_job_id, parse_step_id
from corral.model.states import JobState
from corral.services import readmodel
from corral.services.controller import Controller
from corral.services.estimate import estimate as estimate_start
from corral.services.explain import explain as explain_job
from corral.services.identity import Caller
from corral.services.sandboxes import check_stored
from corral.services.snapshot import SNAPSHOT_KEY, Filters, Snapshot

router = APIRouter(prefix="/v1")
CallerDep = Annotated[Caller, Depends(user_caller)]


async def ctl_of(request: Request) -> Controller:
    ctl: Controller = request.app.state.controller
    return ctl


CtlDep = Annotated[Controller, Depends(ctl_of)]


def _ids(values: list[str] | None, field: str = "id") -> list[int]:
    return [parse_job_id(v, field) for v in _split(values)]


def _states(values: list[str] | None) -> list[str]:
    states = [s.upper() for s in _split(values)]
    for s in states:
        if s not in JobState.__members__:
            raise InvalidRequest(f"state: {s!r} is not a job state "
                                 f"(one of {', '.join(JobState.__members__)})")
    return states


async def _job_id(job_id: Annotated[str, Path()]) -> int:
    """The job id in a path, parsed strictly (`57_5` is not job 575)."""
    return parse_job_id(job_id, "job_id")


async def _step_id(step_id: Annotated[str, Path()]) -> int:
    return parse_step_id(step_id, "step_id")


JobIdPath = Annotated[int, Depends(_job_id)]
StepIdPath = Annotated[int, Depends(_step_id)]


@router.post("/jobs", status_code=201, response_model=Submitted)
async def submit(body: SubmitRequest, caller: CallerDep, ctl: CtlDep, response: Response,
                 idempotency_key: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    key = body.idempotency_key if body.idempotency_key is not None else idempotency_key
    if body.idempotency_key and idempotency_key and body.idempotency_key != idempotency_key:
        raise InvalidRequest("idempotency_key: the field and the Idempotency-Key header differ")
    spec = body.to_spec()
    check_stored(spec, ctl.cfg)  # its input sandbox files uploaded (services/sandboxes)
    if key is None:
        ids = await ctl.submit(caller, spec, user=body.user)
    else:
        ids, replayed = await ctl.idempotent.submit(caller, spec, body.user, key)
        if replayed:
            response.headers["Idempotent-Replayed"] = "true"
    return {"id": min(ids), "ids": ids}  # an array: its id, then its tasks in task order


@router.post("/jobs/estimate", response_model=Estimate)
async def estimate(body: SubmitRequest, caller: CallerDep, ctl: CtlDep) -> dict[str, Any]:
    """When and where the job would start if submitted now; nothing is queued."""
    return estimate_start(ctl, caller, body.to_spec(), user=body.user)


def _bytes_of(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The document's 200 answer of a route that sends the read model's bytes: `model`
    describes them, and nothing validates them per request."""
    return {200: {"model": model, "description": f"A {model.__name__} (JSON)"}}


def _json(body: bytes) -> Response:
    """A body the read model rendered (services/readmodel.py), sent as it is."""
    return Response(content=body, media_type="application/json")


def published(request: Request, ctl: Controller) -> Snapshot:
    """The read model to answer from: the one the reader pinned to the request
    (api/readpath.py), else the controller's latest (services/snapshot.py)."""
    snap: Snapshot | None = request.scope.get(SNAPSHOT_KEY)
    return snap if snap is not None else ctl.publisher.snapshot()


@router.get("/jobs", response_model=None, responses={200: {
    "model": JobList | JobListBrief,
    "description": "A JobList (JSON); with view=brief, a JobListBrief"}})
async def list_jobs(
    request: Request,
    ctl: CtlDep,
    caller: CallerDep,
    user: Annotated[list[str] | None, Query()] = None,
    state: Annotated[list[str] | None, Query()] = None,
    partition: Annotated[list[str] | None, Query()] = None,
    id: Annotated[list[str] | None, Query()] = None,
    name: Annotated[list[str] | None, Query()] = None,
    array: Annotated[list[str] | None, Query()] = None,
    history: bool = False,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    ended_after: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    submitted_before: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    view: Literal["full", "brief"] = "full",
) -> Response:
    states = _states(state)
    filters = Filters(users=frozenset(_split(user)), states=frozenset(states),
                      partitions=frozenset(_split(partition)), ids=frozenset(_ids(id)),
                      names=frozenset(_split(name)), arrays=frozenset(_ids(array, "array")))
    if not history:
        snap = published(request, ctl)
        if snap.answers(filters):
            return _json(snap.listing(caller, filters, limit, view))
    # From here on, the controller's own state (its loop only: api/readpath.py sends
    # these requests there). An array's pending rest is one entry (its display_id
    # `57_[5-99999%4]`, its tasks in `array_pending`); clients expand it when they
    # list every task.
    rests = ctl.list_rests(caller, users=_split(user), states=states,
                           partitions=_split(partition), ids=_ids(id), names=_split(name),
                           arrays=_ids(array, "array"))
    if history and (id or array):  # rests that ended: their tasks have no rows
        rests += [r for r in ctl.arrays.listed(
            users=set(_split(user)), states=set(states), partitions=set(_split(partition)),
            ids=set(_ids(id)), names=set(_split(name)), arrays=set(_ids(array, "array")),
            among=await ctl.arrays.ended(set(_ids(id)) | set(_ids(array, "array"))))
            if ctl.access.sees(caller, r.template)]
    if history:
        jobs = await ctl.history(caller, ids=_ids(id) or None, users=_split(user) or None,
                                 states=states or None, partitions=_split(partition) or None,
                                 names=_split(name) or None,
                                 array_job_ids=_ids(array, "array") or None,
                                 t_end_min=ended_after, t_submit_max=submitted_before,
                                 limit=limit)
    else:
        jobs = ctl.list_jobs(caller, users=_split(user), states=states,
                             partitions=_split(partition), ids=_ids(id), names=_split(name),
                             arrays=_ids(array, "array"))
    # Each job's JSON is the read model's, built once per change of the job; who may
    # read its private fields gets the full one, others the one with them withheld.
    reads_private = ctl.access.reads_private
    entries: Iterable[tuple[int, bytes]] = [
        (j.id, readmodel.job_json(j, public=not reads_private(caller, j))) for j in jobs]
    if rests:
        rest_entries = []
        for rest in rests:
            d = ctl.access.job_dict(caller, rest.template, rest.to_dict())
            rest_entries.append((d["id"], readmodel.job_json(rest.template, d)))
        entries = readmodel.merged(entries, sorted(rest_entries))
    if view == "brief":  # (no private field in it: the same for every caller)
        entries = ((i, readmodel.brief(b)) for i, b in entries)
    return _json(readmodel.listing(entries, limit=limit))


@router.get("/jobs/{job_id}", response_model=None, responses=_bytes_of(Job))
async def show(request: Request, job_id: JobIdPath, ctl: CtlDep, caller: CallerDep
               ) -> Response:
    snap = published(request, ctl)
    entry = snap.job(job_id)
    if entry is not None:
        if not snap.sees(caller, entry):
            raise NotFound(f"job {job_id}: no such job")
        return _json(entry.as_seen_by(caller))
    # not in the queue (an array's pending task, a job only in the store): the
    # controller's own state (its loop only: api/readpath.py sends these there)
    job = await ctl.read_job(caller, job_id)
    return _json(readmodel.job_json(job, public=not ctl.access.reads_private(caller, job)))


@router.get("/jobs/{job_id}/wait", response_model=None, responses=_bytes_of(Job))
async def wait(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep,
               timeout_s: Annotated[float, Query(ge=0, le=3600)] = 60.0) -> Response:
    job = await ctl.wait_final(caller, job_id, timeout_s)
    return _json(readmodel.job_json(job, public=not ctl.access.reads_private(caller, job)))


@router.get("/jobs/{job_id}/explain", response_model=Explanation)
async def explain(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    job = await ctl.read_job(caller, job_id)
    return explain_job(ctl, job, await ctl.events(job_id) if job.state.is_final else None)


@router.get("/jobs/{job_id}/events", response_model=EventList)
async def events(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    return {"events": await ctl.read_events(caller, job_id)}


# `?array=true` on cancel, hold, release and update: when the id is an array's, the
# request acts on the whole array (its pending rest and every task), as Slurm's
# commands do with an array's id; otherwise on the one job.
WholeArray = Annotated[bool, Query(alias="array")]


@router.post("/jobs/{job_id}/cancel", response_model=StateChange,
             response_model_exclude_unset=True)
async def cancel(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep,
                 body: CancelRequest | None = None, whole: WholeArray = False
                 ) -> dict[str, Any]:
    if whole and not (body and body.signal) and ctl.arrays.is_array(job_id):
        return await ctl.arrays.cancel(caller, job_id)
    state = await ctl.cancel(caller, job_id, signal=body.signal if body else None,
                             target=body.target if body else "all",
                             step_id=body.step_id if body else None)
    return {"id": job_id, "state": state}


@router.post("/jobs/{job_id}/hold", response_model=StateChange,
             response_model_exclude_unset=True)
async def hold(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep, whole: WholeArray = False
               ) -> dict[str, Any]:
    if whole and ctl.arrays.is_array(job_id):
        return await ctl.arrays.hold(caller, job_id, release=False)
    await ctl.hold(caller, job_id)
    return {"id": job_id, "state": "HELD"}


@router.post("/jobs/{job_id}/release", response_model=StateChange,
             response_model_exclude_unset=True)
async def release(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep, whole: WholeArray = False
                  ) -> dict[str, Any]:
    if whole and ctl.arrays.is_array(job_id):
        return await ctl.arrays.hold(caller, job_id, release=True)
    await ctl.release(caller, job_id)
    return {"id": job_id, "state": "PENDING"}


@router.post("/jobs/{job_id}/requeue", response_model=Requeued)
async def requeue(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep,
                  body: RequeueRequest | None = None) -> dict[str, Any]:
    await ctl.requeue(caller, job_id, hold=bool(body and body.hold))
    return {"id": job_id}


@router.patch("/jobs/{job_id}", response_model=Job | ArrayUpdated,
              response_model_exclude_unset=True)
async def update(job_id: JobIdPath, body: UpdateRequest, ctl: CtlDep,
                 caller: CallerDep, whole: WholeArray = False) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise InvalidRequest("update: no field to change")
    if whole and ctl.arrays.is_array(job_id):
        return await ctl.arrays.update(caller, job_id, fields)
    job = await ctl.update(caller, job_id, fields)
    return ctl.access.job_dict(caller, job)
