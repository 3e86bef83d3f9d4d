"""Who is looking at the dashboard: the same callers as the API's (api/auth.py) —
the Unix socket's peer uid, a bearer token — and, for a browser over TCP, a session
cookie that a sign-in (web/login.py) set.

A session is kept in the controller's memory only: a random id (the cookie's value)
-> the caller the sign-in's access token mapped to, the token's expiry and the
refresh token if the provider gave one. A controller restart ends every session (the
browser signs in again, without a prompt while the provider's own session lasts).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from corral.api.auth import user_caller
from corral.api.oidc import TokenVerifier
from corral.api.peercred import SCOPE_KEY
from corral.config import IssuerConfig
from corral.model.errors import CorralError, Unauthenticated
from corral.services.identity import Caller
from corral.services.tokens import caller_for_claims
from corral.web.provider import ProviderClient

COOKIE = "corral_session"
MAX_SESSIONS = 10_000  # the oldest is forgotten beyond this
RENEW_BEFORE_S = 30.0  # an access token this close to its expiry is renewed (or at half
# its life, if shorter)


class LoginNeeded(Unauthenticated):
    """No identity: a page sends the browser to sign in, a poll answers 401."""

    def __init__(self) -> None:
        super().__init__("sign in first: /ui/login")


@dataclass
class Session:
    caller: Caller
    issuer: IssuerConfig
    t_token_expires: float  # epoch seconds: the access token's exp
    t_ends: float  # epoch seconds: the sign-in's end (web.session_max_s)
    refresh_token: str | None = None
    renew_before_s: float = RENEW_BEFORE_S
    # one renewal at a time: a provider that rotates refresh tokens takes a second
    # use of one as a theft and ends the sign-in
    renewing: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False, compare=False)

    def due(self) -> bool:
        return time.time() >= self.t_token_expires - self.renew_before_s


class Sessions:
    def __init__(self) -> None:
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_id)

    def open(self, session: Session) -> str:
        sid = secrets.token_urlsafe(32)
        self._by_id[sid] = session
        while len(self._by_id) > MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        s = self._by_id.get(sid)
        if s is not None and time.time() >= s.t_ends:
            del self._by_id[sid]
            return None
        return s

    def close(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)


def sessions_of(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.web_sessions
    return sessions


async def web_caller(request: Request) -> Caller:
    """The caller of a dashboard request; LoginNeeded when there is none."""
    if request.scope.get(SCOPE_KEY) is not None or "authorization" in request.headers:
        return await user_caller(request)
    sid = request.cookies.get(COOKIE)
    session = sessions_of(request).get(sid)
    if session is None:
        raise LoginNeeded
    if session.due():
        async with session.renewing:
            if session.due() and not await renew(request, session):  # (not meanwhile)
                sessions_of(request).close(sid)
                raise LoginNeeded
    return session.caller


async def signed_in(request: Request, issuer: IssuerConfig, answer: dict[str, Any]) -> Session:
    """A session from the provider's token answer: its access token checked as the
    API checks a bearer token (api/oidc.py) and mapped to a local user the same way."""
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise Unauthenticated(f"sign-in: {issuer.issuer} answered no access token")
    tokens: TokenVerifier = request.app.state.tokens
    verified = await tokens.verify(token)
    if verified.issuer.issuer != issuer.issuer:
        raise Unauthenticated(f"sign-in: the token is from {verified.issuer.issuer}, "
                              f"not {issuer.issuer}")
    caller = caller_for_claims(verified.issuer, verified.claims,
                               request.app.state.controller.roles)
    now = time.time()
    web = request.app.state.controller.cfg.web
    refresh = answer.get("refresh_token")
    expires = float(verified.claims.get("exp", now))
    return Session(caller=caller, issuer=issuer, t_token_expires=expires,
                   t_ends=now + web.session_max_s,
                   refresh_token=refresh if isinstance(refresh, str) and refresh else None,
                   renew_before_s=min(RENEW_BEFORE_S, max(0.0, expires - now) / 2))


async def renew(request: Request, session: Session) -> bool:
    """A new access token with the session's refresh token, into the session (False:
    there is none, or the provider refused it: the browser signs in again)."""
    if session.refresh_token is None:
        return False
    provider: ProviderClient = request.app.state.web_provider
    try:
        answer = await provider.refresh(session.issuer, session.refresh_token)
        fresh = await signed_in(request, session.issuer, answer)
    except CorralError:
        return False
    session.caller = fresh.caller
    session.t_token_expires = fresh.t_token_expires
    session.renew_before_s = fresh.renew_before_s
    session.refresh_token = fresh.refresh_token or session.refresh_token
    return True
