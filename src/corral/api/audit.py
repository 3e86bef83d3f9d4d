"""Every state-changing REST request into the audit trail (services/audit.py), and
GET /v1/audit to read it.

A plain ASGI middleware: for a POST, PUT, PATCH or DELETE that reached a user route
(agents' traffic and estimates change nothing a person asked for), it keeps the
request's body and the answer's status and body as they pass, and records after
the answer who asked (the caller user_caller established, else the socket's uid,
else "anonymous"), from where ("unix socket" or the peer's address), the action
(the route's), the job, node or reservation named, a summary of the request, and
the result: "ok", or the refusal's one-line message.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Query
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.auth import CALLER_KEY
from corral.api.peercred import SCOPE_KEY
from corral.api.query import split_values
from corral.api.responses import AuditList
from corral.api.routes_jobs import CallerDep, CtlDep
from corral.logs import request_id_var
from corral.model.errors import CorralError
from corral.model.jobid import MAX_JOB_ID, parse_job_id
from corral.services.audit import UNIX_SOCKET, entry_row, summarize
from corral.services.controller import Controller
from corral.services.identity import Caller, caller_from_uid

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_AUDITED = frozenset({"estimate"})  # routes that change nothing (by their name)
MAX_KEPT = 65536  # bytes of a request's or an answer's body kept for the entry

# route (its function's name) -> the action as the trail names it
ACTIONS = {"submit": "submit", "submit_batch": "submit_batch", "cancel": "cancel",
           "hold": "hold", "release": "release", "requeue": "requeue", "update": "update",
           "create_step": "step", "end_step": "end_step", "end_allocation": "end",
           "drain": "drain", "resume": "resume", "delete_node": "delete_node",
           "create_reservation": "create_reservation",
           "delete_reservation": "delete_reservation",
           "hand_over_credential": "credential_handover",
           "credential_token": "credential_token",
           "revoke_credential": "credential_revoke",
           "revoke_credential_by_handle": "credential_revoke"}


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING \
                or scope["path"].startswith("/agent/"):
            await self.app(scope, receive, send)
            return
        asked = bytearray()
        answer = bytearray()
        status = [500]

        async def receive_kept() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(asked) < MAX_KEPT:
                asked.extend(message.get("body", b"")[:MAX_KEPT - len(asked)])
            return message

        async def send_kept(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            elif message["type"] == "http.response.body" and len(answer) < MAX_KEPT:
                answer.extend(message.get("body", b"")[:MAX_KEPT - len(answer)])
            await send(message)

        try:
            await self.app(scope, receive_kept, send_kept)
        except Exception:
            _record(scope, bytes(asked), 500, b"")
            raise
        _record(scope, bytes(asked), status[0], bytes(answer))


def _json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except ValueError:  # a body cut at MAX_KEPT, not JSON, or numbers past 64 bits
        pass
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _record(scope: Scope, asked: bytes, status: int, answer: bytes) -> None:
    route = scope.get("route")
    if not isinstance(route, APIRoute) or route.name in NOT_AUDITED:
        return  # no such route: nothing was done
    ctl: Controller = scope["app"].state.controller
    action = ACTIONS.get(route.name, route.name)
    ok = status < 400
    # the answer is read only where the entry takes something from it
    body, out = _json(asked), _json(answer) if not ok or action.startswith("submit") else None
    if action == "cancel" and isinstance(body, dict) and body.get("signal") is not None:
        action = "signal"
    params: dict[str, str] = scope.get("path_params", {})
    job_id, target = None, params.get("name", "")
    if "job_id" in params:
        try:
            job_id = parse_job_id(params["job_id"], "job_id")
        except CorralError:
            target = params["job_id"]
        if "step_id" in params:
            target = f"step {params['step_id']}"
    elif "uws_id" in params:  # (api/uws/: its own ids, not corral's)
        target = f"UWS job {params['uws_id'][:40]}"
    if ok and isinstance(out, dict) and action == "submit":
        ids = out.get("ids") or []
        job_id = out.get("id")
        target = f"{len(ids)} jobs" if len(ids) > 1 else ""
    elif ok and isinstance(out, dict) and action == "submit_batch":
        target = f"{out.get('accepted')} accepted, {out.get('refused')} refused"
    if ok:
        result = "ok"
    elif isinstance(out, dict) and isinstance(out.get("message"), str):
        result = out["message"]
    elif not ok and out is None and answer:  # a refusal in text (api/uws/)
        result = answer.decode("utf-8", "replace").strip().split("\n")[0][:500]
    else:
        result = f"HTTP {status}"
    peer_uid = scope.get(SCOPE_KEY)
    caller: Caller | None = scope.get(CALLER_KEY)
    if caller is None and peer_uid is not None:
        caller = caller_from_uid(peer_uid, ctl.roles)
    client = scope.get("client")
    origin = UNIX_SOCKET if peer_uid is not None else (
        f"{client[0]}:{client[1]}" if client else "unknown")
    if caller is not None and caller.relay is not None:
        origin = f"relay {caller.relay} at {origin}"
    raw_query = scope.get("query_string", b"")
    query = dict(parse_qsl(raw_query.decode("latin-1"))) if raw_query else None
    ctl.audit.record(entry_row(
        caller=caller, uid=peer_uid, origin=origin, action=action, job_id=job_id,
        target=target, request=summarize(body, query, size=len(asked) + len(raw_query)),
        status=status, result=result,
        request_id=request_id_var.get()))


router = APIRouter(prefix="/v1")


@router.get("/audit", response_model=AuditList)
async def audit(ctl: CtlDep, caller: CallerDep,
                user: Annotated[list[str] | None, Query()] = None,
                job: Annotated[int | None, Query(ge=1, le=MAX_JOB_ID)] = None,
                action: Annotated[list[str] | None, Query()] = None,
                since: Annotated[float | None, Query(allow_inf_nan=False)] = None,
                until: Annotated[float | None, Query(allow_inf_nan=False)] = None,
                limit: Annotated[int, Query(ge=1, le=100_000)] = 1000) -> dict[str, Any]:
    """Audit entries, oldest first (the newest `limit` that match): operators and
    administrators see every entry, users their own."""
    users = split_values(user, "user")
    actions = split_values(action, "action")
    return {"entries": await ctl.audit.query(caller, users=users, job_id=job,
                                             actions=actions, since=since, until=until,
                                             limit=limit)}
