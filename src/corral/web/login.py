"""Signing in to the dashboard from a browser: OpenID Connect's authorization code
flow with PKCE (RFC 7636) against an issuer the controller takes tokens from
(`[[auth.issuers]]` with a `web_client_id`), then a session cookie.

    /ui/login            -> the issuer's authorization endpoint (state, S256 challenge)
    /ui/login/callback   <- the code; exchanged (with the verifier) for an access token,
                            checked and mapped to a local user as the API does with a
                            bearer token; a session opens (web/session.py)
    POST /ui/logout      -> the session ends

The state is bound to the browser that started the sign-in by a short-lived cookie
of its own, so a code obtained elsewhere cannot be planted in another's browser.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from corral.config import IssuerConfig
from corral.model.errors import CorralError, InvalidRequest, Unauthenticated
from corral.web.provider import ProviderClient, pkce_pair
from corral.web.render import error_page, page
from corral.web.session import COOKIE, Session, Sessions, sessions_of, signed_in

router = APIRouter(prefix="/ui", include_in_schema=False)
LOGIN_COOKIE = "corral_login"
LOGIN_TTL_S = 600  # a sign-in not finished by then starts over
MAX_PENDING = 1000


@dataclass(frozen=True)
class Pending:
    issuer: IssuerConfig
    verifier: str
    redirect_uri: str
    next_path: str
    t_started: float


class PendingLogins:
    def __init__(self) -> None:
        self._by_state: dict[str, Pending] = {}

    def add(self, p: Pending) -> str:
        now = time.time()
        for k in [k for k, v in self._by_state.items() if now - v.t_started > LOGIN_TTL_S]:
            del self._by_state[k]
        while len(self._by_state) >= MAX_PENDING:
            del self._by_state[next(iter(self._by_state))]
        state = secrets.token_urlsafe(24)
        self._by_state[state] = p
        return state

    def take(self, state: str) -> Pending | None:
        p = self._by_state.pop(state, None)
        if p is None or time.time() - p.t_started > LOGIN_TTL_S:
            return None
        return p


def web_issuers(request: Request) -> list[IssuerConfig]:
    issuers: list[IssuerConfig] = request.app.state.controller.cfg.auth.issuers
    return [i for i in issuers if i.web_client_id]


def safe_next(path: str) -> str:
    """Only a dashboard path of this controller (no open redirect)."""
    if not path.startswith("/ui") or path.startswith("//") or "\\" in path:
        return "/ui/"
    return path


def base_url(request: Request) -> str:
    public = request.app.state.controller.cfg.web.public_url
    return (public or str(request.base_url)).rstrip("/")


def _secure(request: Request) -> bool:
    return base_url(request).startswith("https://")


@router.get("/login")
async def login(request: Request, next: Annotated[str, Query(max_length=2048)] = "/ui/",
                issuer: Annotated[int | None, Query(ge=0, le=100)] = None,
                out: bool = False) -> Response:
    choices = web_issuers(request)
    if out or not choices or (issuer is None and len(choices) > 1):
        return page(request, "login.html", None, issuers=choices, next=safe_next(next),
                    signed_out=out, socket=request.app.state.controller.cfg.socket_path)
    chosen = choices[issuer or 0] if (issuer or 0) < len(choices) else None
    if chosen is None:
        return error_page(request, InvalidRequest(f"issuer: {issuer} is not one of 0 to "
                                                  f"{len(choices) - 1}"), None)
    try:
        endpoints = await request.app.state.web_provider.endpoints(chosen)
    except CorralError as e:
        return error_page(request, e, None)
    verifier, challenge = pkce_pair()
    redirect_uri = f"{base_url(request)}/ui/login/callback"
    pending: PendingLogins = request.app.state.web_logins
    state = pending.add(Pending(chosen, verifier, redirect_uri, safe_next(next), time.time()))
    scopes = [s for s in chosen.scopes if s != "offline_access"] or ["openid"]
    params = {"response_type": "code", "client_id": str(chosen.web_client_id),
              "redirect_uri": redirect_uri, "scope": " ".join(scopes), "state": state,
              "code_challenge": challenge, "code_challenge_method": "S256"}
    if chosen.resource:
        params["resource"] = chosen.resource
    sep = "&" if "?" in endpoints.authorization else "?"
    answer = RedirectResponse(f"{endpoints.authorization}{sep}{urlencode(params)}",
                              status_code=303)
    answer.set_cookie(LOGIN_COOKIE, state, max_age=LOGIN_TTL_S, path="/ui/login",
                      httponly=True, samesite="lax", secure=_secure(request))
    return answer


@router.get("/login/callback")
async def callback(request: Request,
                   code: Annotated[str, Query(max_length=4096)] = "",
                   state: Annotated[str, Query(max_length=256)] = "",
                   error: Annotated[str, Query(max_length=256)] = "",
                   error_description: Annotated[str, Query(max_length=1024)] = "") -> Response:
    try:
        if error:
            raise Unauthenticated(f"sign-in refused: {error}"
                                  + (f": {error_description}" if error_description else ""))
        pending: PendingLogins = request.app.state.web_logins
        if not state or request.cookies.get(LOGIN_COOKIE) != state:
            raise Unauthenticated("sign-in: this browser did not start it (or it took "
                                  "longer than 10 minutes): sign in again")
        started = pending.take(state)
        if started is None or not code:
            raise Unauthenticated("sign-in: unknown or expired; sign in again")
        provider: ProviderClient = request.app.state.web_provider
        answer = await provider.exchange(started.issuer, code, started.verifier,
                                         started.redirect_uri)
        session: Session = await signed_in(request, started.issuer, answer)
    except CorralError as e:
        return error_page(request, e, None)
    sid = sessions_of(request).open(session)
    web = request.app.state.controller.cfg.web
    out = RedirectResponse(started.next_path, status_code=303)
    out.set_cookie(COOKIE, sid, max_age=web.session_max_s, path="/ui", httponly=True,
                   samesite="lax", secure=_secure(request))
    out.delete_cookie(LOGIN_COOKIE, path="/ui/login")
    return out


@router.post("/logout")
async def logout(request: Request) -> Response:
    sessions: Sessions = sessions_of(request)
    sessions.close(request.cookies.get(COOKIE))
    out = RedirectResponse("/ui/login?out=true", status_code=303)
    out.delete_cookie(COOKIE, path="/ui")
    return out
