"""Who is calling: the Unix socket's peer uid, or (TCP) the cluster key for agents.

The dependencies here (and the routes' own) are coroutines: FastAPI would run a plain
function in a worker thread, a thread hop per dependency per request."""

from __future__ import annotations

import hmac
import os

from fastapi import Request

from corral.api.peercred import SCOPE_KEY
from corral.model.errors import PermissionDenied, Unauthenticated
from corral.services.identity import Caller, caller_from_uid


async def user_caller(request: Request) -> Caller:
    uid = request.scope.get(SCOPE_KEY)
    if uid is None:
        raise Unauthenticated("remote users need a token; use the Unix socket on this host")
    return caller_from_uid(uid, request.app.state.controller.roles)


async def require_agent(request: Request) -> None:
    uid = request.scope.get(SCOPE_KEY)
    if uid is not None:
        if uid not in (0, os.getuid()):
            raise PermissionDenied(f"agent endpoints: uid {uid} is not the controller's")
        return
    key = request.app.state.controller.cfg.controller.cluster_key
    given = request.headers.get("x-corral-cluster-key", "")
    if not key or not hmac.compare_digest(key, given):
        raise Unauthenticated("agent endpoints: missing or wrong cluster key")
