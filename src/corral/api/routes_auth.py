"""GET /v1/auth (how to get a token for this controller; no credentials needed) and
GET /v1/whoami (who the controller takes the caller for)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from corral.api.auth import user_caller
from corral.api.responses import AuthInfo, WhoAmI
from corral.services.identity import Caller

router = APIRouter()


@router.get("/v1/auth", response_model=AuthInfo)
async def login_info(request: Request) -> dict[str, Any]:
    """The issuers whose tokens this controller takes; `client_id` is the client
    `corral login` uses with the device flow (None: no logins, service accounts
    only)."""
    issuers = request.app.state.controller.cfg.auth.issuers
    return {"issuers": [
        {"issuer": i.issuer, "client_id": i.client_id, "scopes": i.scopes,
         "audience": i.audience, "resource": i.resource}
        for i in issuers]}


@router.get("/v1/whoami", response_model=WhoAmI, response_model_exclude_unset=True)
async def whoami(caller: Annotated[Caller, Depends(user_caller)]) -> dict[str, Any]:
    answer: dict[str, Any] = {"user": caller.user, "uid": caller.uid, "gid": caller.gid,
                              "role": str(caller.role), "groups": list(caller.groups),
                              "via": "socket"}
    if caller.subject is not None:
        answer.update(via="token", issuer=caller.issuer, subject=caller.subject)
    elif caller.relay is not None:
        answer.update(via="relay", relay=caller.relay)
    return answer
