"""/v1/jobs/{id}/steps and /v1/jobs/{id}/end: work inside a running allocation."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request

from corral.api.auth import RELAY_ADDRESS_KEY
from corral.api.peercred import SCOPE_KEY
from corral.api.responses import StateChange, Step, StepList
from corral.api.routes_jobs import CallerDep, CtlDep, JobIdPath, StepIdPath
from corral.api.schemas import EndRequest, StepEndRequest, StepRequest

router = APIRouter(prefix="/v1")


@router.post("/jobs/{job_id}/steps", status_code=201, response_model=Step)
async def create_step(job_id: JobIdPath, body: StepRequest, ctl: CtlDep,
                      caller: CallerDep, request: Request) -> dict[str, Any]:
    req = body.to_request()
    if req.io_node is None and request.scope.get(SCOPE_KEY) is None:
        # a client on another host (a login host's relay, a token): the nodes
        # connect back to that host, not to the controller's
        client = request.scope.get("client")
        host = request.scope.get(RELAY_ADDRESS_KEY) or (client[0] if client else None)
        req = dataclasses.replace(req, io_host=host)
    step = await ctl.steps.create(caller, job_id, req)
    return step.to_dict()


@router.get("/jobs/{job_id}/steps", response_model=StepList)
async def list_steps(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep) -> dict[str, Any]:
    return {"steps": [s.to_dict() for s in ctl.steps.list(caller, job_id)]}


@router.post("/jobs/{job_id}/steps/{step_id}/end", response_model=Step)
async def end_step(job_id: JobIdPath, step_id: StepIdPath, body: StepEndRequest, ctl: CtlDep,
                   caller: CallerDep) -> dict[str, Any]:
    step = await ctl.steps.end(caller, job_id, step_id, exit_code=body.exit_code,
                               signal=body.signal, cancelled=body.cancelled,
                               out_of_memory=body.out_of_memory)
    return step.to_dict()


@router.post("/jobs/{job_id}/end", response_model=StateChange, response_model_exclude_unset=True)
async def end_allocation(job_id: JobIdPath, ctl: CtlDep, caller: CallerDep,
                         body: EndRequest | None = None) -> dict[str, Any]:
    state = await ctl.end_allocation(caller, job_id, body.exit_code if body else 0)
    return {"id": job_id, "state": state}
