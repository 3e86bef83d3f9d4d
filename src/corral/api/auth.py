"""Who is calling: the Unix socket's peer uid, an OIDC bearer token (TCP), a login
host's relay speaking for one of its users (TCP), or the cluster key for agents.

The dependencies here (and the routes' own) are coroutines: FastAPI would run a plain
function in a worker thread, a thread hop per dependency per request."""

from __future__ import annotations

import hmac
import os

from fastapi import Request

from corral.api.oidc import TokenVerifier
from corral.api.peercred import SCOPE_KEY
from corral.model.errors import PermissionDenied, RateLimited, Unauthenticated
from corral.model.pilots import PILOT_TOKEN_HEADER
from corral.model.relay import RELAY_HEADER, RELAY_KEY_HEADER, RELAY_UID_HEADER
from corral.model.roles import Role
from corral.services.identity import Caller, caller_from_uid
from corral.services.pilot_auth import CLAIM_KEY, PilotKeys
from corral.services.rate_limit import RateLimiter
from corral.services.relays import Relays
from corral.services.tokens import caller_for_claims

CALLER_KEY = "corral.caller"  # the caller, in the ASGI scope, for the audit trail
COUNTED_KEY = "corral.rate_counted"  # the request has taken from its user's bucket
# for a relayed request: where the nodes reach the relay's host (srun's output)
RELAY_ADDRESS_KEY = "corral.relay_address"


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthenticated("the Authorization header is not 'Bearer TOKEN'")
    return value.strip()


async def user_caller(request: Request) -> Caller:
    caller = await _caller(request)
    request.scope[CALLER_KEY] = caller
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is not None and caller.role < Role.ADMIN \
            and not request.scope.get(COUNTED_KEY):
        wait_s = limiter.take(caller.user)
        if wait_s > 0:
            raise RateLimited(
                f"rate limit: user {caller.user} is over {limiter.bucket_size} requests at "
                f"once and {limiter.refill_per_s:g} a second ([rate_limit] in the "
                f"configuration); nothing was done: send it again in {wait_s:.2f} s",
                wait_s)
        request.scope[COUNTED_KEY] = True  # (one request, one take)
    return caller


async def _caller(request: Request) -> Caller:
    uid = request.scope.get(SCOPE_KEY)
    if uid is not None:
        return caller_from_uid(uid, request.app.state.controller.roles)
    relay = request.headers.get(RELAY_HEADER)
    if relay is not None:  # a login host's relay speaks for one of its users
        return relayed_caller(request, relay)
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("remote users need a token: run 'corral login' (or use the "
                              "Unix socket on the controller's host)")
    tokens: TokenVerifier = request.app.state.tokens
    known: Caller | None = tokens.recall(token)
    if known is not None:
        return known
    verified = await tokens.verify(token)
    caller = caller_for_claims(verified.issuer, verified.claims,
                               request.app.state.controller.roles)
    tokens.remember(token, verified, caller)
    return caller


def relayed_caller(request: Request, name: str) -> Caller:
    """The caller a relay asserts (services/relays.py): the relay's key and address
    are checked, then the uid it names against what the site allows it."""
    relays: Relays = request.app.state.relays
    client = request.scope.get("client")
    relay = relays.authenticate(name, request.headers.get(RELAY_KEY_HEADER, ""),
                                client[0] if client else None)
    request.scope[RELAY_ADDRESS_KEY] = relay.address or (client[0] if client else None)
    return relays.caller(relay, request.headers.get(RELAY_UID_HEADER, ""),
                         request.app.state.controller.roles)


def _has_cluster_key(request: Request) -> bool:
    key = request.app.state.controller.cfg.controller.cluster_key
    given = request.headers.get("x-corral-cluster-key", "")
    return bool(key) and hmac.compare_digest(key, given)


async def require_agent(request: Request) -> None:
    uid = request.scope.get(SCOPE_KEY)
    if uid is not None:
        if uid not in (0, os.getuid()):
            raise PermissionDenied(f"agent endpoints: uid {uid} is not the controller's")
        return
    pilot = request.headers.get(PILOT_TOKEN_HEADER)
    if pilot is not None:  # a pilot: its node only (docs/pilots.md)
        keys: PilotKeys = request.app.state.pilot_keys
        request.scope[CLAIM_KEY] = keys.check(pilot)
        return
    if not _has_cluster_key(request):
        raise Unauthenticated("agent endpoints: missing or wrong cluster key")


async def require_reader(request: Request) -> None:
    """/metrics, /v1/status, the OpenAPI document: anyone on the Unix socket; over TCP
    a user with a token, the cluster key, or anyone when auth.anonymous_read is on."""
    if request.scope.get(SCOPE_KEY) is not None:
        return
    if request.app.state.controller.cfg.auth.anonymous_read or _has_cluster_key(request):
        return
    if bearer_token(request) is None and RELAY_HEADER not in request.headers:
        raise Unauthenticated(f"{request.url.path}: over TCP it needs a token or the "
                              f"cluster key (auth.anonymous_read is off)")
    await user_caller(request)
