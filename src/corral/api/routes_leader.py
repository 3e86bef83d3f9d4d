"""GET /v1/controllers and POST /v1/controller/step-down (docs/deployment.md)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import Connection

from corral.api.auth import require_reader, user_caller
from corral.api.responses import Controllers, SteppedDown
from corral.api.routes_jobs import CtlDep
from corral.model.errors import Conflict, PermissionDenied
from corral.services.identity import Caller
from corral.services.leader import Leadership
from corral.store import leader as store_leader

router = APIRouter()

CallerDep = Annotated[Caller, Depends(user_caller)]


async def leadership_of(request: Request) -> Leadership | None:
    """None: a controller made in-process, without an election (tests, tools)."""
    found: Leadership | None = getattr(request.app.state, "leadership", None)
    return found


LeadershipDep = Annotated[Leadership | None, Depends(leadership_of)]


@router.get("/v1/controllers", dependencies=[Depends(require_reader)],
            response_model=Controllers)
async def controllers(ctl: CtlDep, leadership: LeadershipDep) -> dict[str, Any]:
    """The leader, its epoch, and every controller sharing the database."""
    if leadership is None:
        return {"epoch": ctl.writer.epoch, "lease_s": 0, "leader": None,
                "controllers": [], "alone": True}
    return await asyncio.to_thread(leadership.describe)


@router.post("/v1/controller/step-down", response_model=SteppedDown)
async def step_down(ctl: CtlDep, caller: CallerDep,
                    leadership: LeadershipDep) -> dict[str, Any]:
    """Hand the lead over (administrators): every write queued before this one
    commits, then the lease is given up in the same ordered stream, so a follower
    takes over at once; this controller then starts again as a follower."""
    if not caller.is_admin:
        raise PermissionDenied("controller step-down: administrators only")
    if leadership is None or leadership.on_handover is None or not leadership.leading:
        raise Conflict("controller step-down: this controller does not lead by election")
    epoch = leadership.epoch

    def give_up(conn: Connection) -> bool:
        return store_leader.release(conn, leadership.me, epoch)

    await ctl.persist(give_up)
    leadership.stop()  # no more renewals: the lease is given up
    leadership.leading = False
    leadership.on_handover()  # (the answer leaves first)
    return {"epoch": epoch, "address": leadership.address}
