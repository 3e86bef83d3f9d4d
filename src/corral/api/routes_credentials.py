"""/v1/credentials: a user's sign-in handed to the controller for their
`--credential` jobs (services/credentials.py, docs/identity.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from corral.api.responses import (
    CredentialEnded,
    CredentialHandedOver,
    CredentialList,
    CredentialToken,
)
from corral.api.routes_jobs import CallerDep, CtlDep
from corral.api.schemas import CredentialHandle, CredentialHandover

router = APIRouter(prefix="/v1")
CredId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/credentials", status_code=201, response_model=CredentialHandedOver)
async def hand_over_credential(body: CredentialHandover, caller: CallerDep,
                               ctl: CtlDep) -> dict[str, Any]:
    """Hand the caller's sign-in (its refresh token) over: the controller renews it
    from now on -> the credential's id, the handle the client keeps, and a fresh
    access token for the client."""
    return await ctl.credentials.hand_over(caller, body.refresh_token)


@router.post("/credentials/token", response_model=CredentialToken)
async def credential_token(body: CredentialHandle, request: Request) -> dict[str, Any]:
    """An access token for the client holding the handle (no bearer token needed:
    the client's own may have expired)."""
    ctl = request.app.state.controller
    return dict(await ctl.credentials.client_token(body.id, body.handle))


@router.post("/credentials/revoke", response_model=CredentialEnded)
async def revoke_credential_by_handle(body: CredentialHandle,
                                      request: Request) -> dict[str, Any]:
    """`corral logout --revoke`: end the credential the handle names, at the
    provider too."""
    await request.app.state.controller.credentials.revoke_by_handle(body.id, body.handle)
    return {"id": body.id, "state": "revoked"}


@router.get("/credentials", response_model=CredentialList)
async def list_credentials(caller: CallerDep, ctl: CtlDep) -> dict[str, Any]:
    """The active credentials: a user's own, an operator's every one."""
    return {"credentials": ctl.credentials.listing(caller)}


@router.delete("/credentials/{cred_id}", response_model=CredentialEnded)
async def revoke_credential(cred_id: CredId, caller: CallerDep, ctl: CtlDep
                            ) -> dict[str, Any]:
    """End a credential (its owner or an administrator): renewals stop."""
    await ctl.credentials.revoke(caller, cred_id)
    return {"id": cred_id, "state": "revoked"}
