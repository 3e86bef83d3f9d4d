"""OIDC access tokens (JWTs) from the configured issuers: their keys and the checks.

Each issuer's discovery document names its key set (JWKS); the keys are fetched when
first needed, again after `jwks_max_age_s`, and again when a token names a key id
the set does not have (a rotation at the provider), at most once per
`jwks_refetch_min_s`. A token is refused with one line saying why: no algorithm
`none`, only the issuer's pinned algorithms, a known key, a good signature, the
issuer, the audience, `exp` and `nbf` within `clock_skew_s`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet

from corral.config import IssuerConfig
from corral.model.errors import Unauthenticated, Unavailable

log = logging.getLogger("corral.oidc")

FETCH_TIMEOUT_S = 5.0
RETRY_AGED_S = 30.0  # an aged key set whose refresh failed is tried again after this
MEMO_TTL_S = 30.0  # what was made of a verified token is kept this long at most
MEMO_MAX = 10_000
MAX_TOKEN_BYTES = 16384
MAX_DOCUMENT_BYTES = 1 << 20


class TokenRefused(Unauthenticated):
    """A bearer token that is not good; the message is the one-line reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"token refused: {reason}")


@dataclass(frozen=True, slots=True)
class Verified:
    issuer: IssuerConfig
    claims: dict[str, Any]


def _b64_json(segment: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (ValueError, TypeError):
        raise TokenRefused(f"malformed {what}") from None
    if not isinstance(value, dict):
        raise TokenRefused(f"malformed {what}")
    return value


class IssuerKeys:
    """One issuer's key set, fetched through its discovery document when needed."""

    def __init__(self, cfg: IssuerConfig, http: httpx.AsyncClient,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.http = http
        self.clock = clock
        self.keys: KeySet | None = None
        self.jwks_uri: str | None = None
        self.fetched_at_s: float | None = None  # on `clock`
        self.fetches = 0
        self._due_s = 0.0  # on `clock`: when the key set is to be fetched again
        # the last failed fetch (on `clock`) and why: for jwks_refetch_min_s after it,
        # requests that need the keys get the same answer at once instead of queueing
        # behind another fetch from a provider that does not answer
        self._failed: tuple[float, str] | None = None
        self._lock = asyncio.Lock()

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            answer = await self.http.get(url, timeout=FETCH_TIMEOUT_S)
        except httpx.HTTPError as e:
            raise Unavailable(f"issuer {self.cfg.issuer}: cannot fetch {url}: "
                              f"{type(e).__name__}") from None
        if answer.status_code != 200 or len(answer.content) > MAX_DOCUMENT_BYTES:
            raise Unavailable(f"issuer {self.cfg.issuer}: {url} answered "
                              f"HTTP {answer.status_code}")
        try:
            doc = answer.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise Unavailable(f"issuer {self.cfg.issuer}: {url} is not a JSON object")
        return doc

    async def _fetch(self) -> None:
        if self._failed is not None and \
                self.clock() - self._failed[0] < self.cfg.jwks_refetch_min_s:
            raise Unavailable(self._failed[1])
        try:
            await self._fetch_now()
        except Unavailable as e:
            self._failed = (self.clock(), e.message)
            raise
        self._failed = None

    async def _fetch_now(self) -> None:
        if self.jwks_uri is None:
            doc = await self._get_json(
                f"{self.cfg.issuer.rstrip('/')}/.well-known/openid-configuration")
            if doc.get("issuer") != self.cfg.issuer:
                raise Unavailable(f"issuer {self.cfg.issuer}: its discovery document names "
                                  f"another issuer ({doc.get('issuer')!r})")
            uri = doc.get("jwks_uri")
            if not isinstance(uri, str) or not uri:
                raise Unavailable(f"issuer {self.cfg.issuer}: no jwks_uri in its discovery "
                                  f"document")
            self.jwks_uri = uri
        doc = await self._get_json(self.jwks_uri)
        try:
            keys = KeySet.import_key_set(
                {"keys": [k for k in doc.get("keys", []) if k.get("use", "sig") == "sig"]})
        except (jose_errors.JoseError, ValueError, TypeError, AttributeError) as e:
            raise Unavailable(f"issuer {self.cfg.issuer}: a key set it serves is not "
                              f"usable ({e})") from None
        self.keys = keys
        self.fetched_at_s = self.clock()
        self._due_s = self.fetched_at_s + self.cfg.jwks_max_age_s
        self.fetches += 1
        log.info("issuer %s: %d signing keys fetched", self.cfg.issuer, len(keys.keys))

    def _find(self, kid: str | None) -> Any:
        if self.keys is None:
            return None
        if kid is None:
            return self.keys.keys[0] if len(self.keys.keys) == 1 else None
        return next((k for k in self.keys.keys if k.kid == kid), None)

    async def key_for(self, kid: str | None) -> Any:
        """The key with this id, the set refetched when it is old or lacks the id
        (no more than once per jwks_refetch_min_s) -> None when there is none."""
        async with self._lock:
            now = self.clock()
            if self.fetched_at_s is None:
                await self._fetch()
            elif now >= self._due_s:
                try:
                    await self._fetch()
                except Unavailable as e:  # the keys it had still verify its tokens
                    self._due_s = now + max(self.cfg.jwks_refetch_min_s, RETRY_AGED_S)
                    log.warning("%s; the key set fetched %.0f s ago stays in use", e,
                                now - self.fetched_at_s)
            key = self._find(kid)
            if key is None and self.fetched_at_s is not None and \
                    self.clock() - self.fetched_at_s >= self.cfg.jwks_refetch_min_s:
                await self._fetch()
                key = self._find(kid)
            return key


class TokenVerifier:
    """Checks bearer tokens against the configured issuers."""

    def __init__(self, issuers: list[IssuerConfig], *, http: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.http = http or httpx.AsyncClient(follow_redirects=False)
        self.issuers = {i.issuer: IssuerKeys(i, self.http, clock) for i in issuers}
        self.wall_clock = wall_clock
        # token -> (until, on wall_clock; what the caller made of it): a client that
        # sends the same token again is not checked and mapped again
        self._memo: dict[str, tuple[float, Any]] = {}

    def recall(self, token: str) -> Any:
        """What `remember` kept for this token, while the token is valid (None: nothing)."""
        kept = self._memo.get(token)
        if kept is None:
            return None
        if kept[0] <= self.wall_clock():
            del self._memo[token]
            return None
        return kept[1]

    def remember(self, token: str, verified: Verified, value: Any) -> None:
        """Keep `value` for `token` until the token expires, MEMO_TTL_S at most."""
        if len(self._memo) >= MEMO_MAX:
            self._memo.clear()
        exp = verified.claims.get("exp")
        until = min(self.wall_clock() + MEMO_TTL_S, float(exp) if isinstance(exp, int | float)
                    else 0.0)
        self._memo[token] = (until, value)

    async def close(self) -> None:
        await self.http.aclose()

    async def verify(self, token: str) -> Verified:
        if not self.issuers:
            raise Unauthenticated("this controller takes no tokens (no auth.issuers "
                                  "configured); use the Unix socket on its host")
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRefused(f"longer than {MAX_TOKEN_BYTES} bytes")
        parts = token.split(".")
        if len(parts) == 5:
            raise TokenRefused("encrypted tokens (JWE) are not accepted")
        if len(parts) != 3:
            raise TokenRefused("not a JWT (three dot-separated parts)")
        header = _b64_json(parts[0], "header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise TokenRefused("alg none: unsigned tokens are not accepted")
        unverified = _b64_json(parts[1], "payload")
        iss = unverified.get("iss")
        keys = self.issuers.get(iss) if isinstance(iss, str) else None
        if keys is None:
            raise TokenRefused(f"wrong issuer {str(iss)[:200]!r}")
        cfg = keys.cfg
        if alg not in cfg.algorithms:
            raise TokenRefused(f"algorithm {alg[:20]!r} is not one of {', '.join(cfg.algorithms)}")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRefused("malformed header (kid)")
        key = await keys.key_for(kid)
        if key is None:
            raise TokenRefused(f"unknown key {str(kid)[:100]!r} for issuer {cfg.issuer}")
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except jose_errors.BadSignatureError:
            raise TokenRefused("bad signature") from None
        except jose_errors.JoseError as e:
            raise TokenRefused(f"not verifiable ({e.error})") from None
        except (ValueError, TypeError):  # e.g. a key of another type than `alg`'s
            raise TokenRefused(f"not verifiable with the key {kid!r} as {alg}") from None
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=int(self.wall_clock()), leeway=cfg.clock_skew_s,
            exp={"essential": True}, iss={"essential": True, "value": cfg.issuer},
            aud={"essential": True, "value": cfg.audience})
        try:
            registry.validate(claims)
        except jose_errors.ExpiredTokenError:
            raise TokenRefused("expired") from None
        except jose_errors.MissingClaimError as e:
            raise TokenRefused(f"no {e.claim} claim") from None
        except jose_errors.ClaimError as e:
            raise TokenRefused(_claim_reason(e.claim, cfg)) from None
        return Verified(cfg, claims)


def _claim_reason(claim: str, cfg: IssuerConfig) -> str:
    if claim == "nbf":
        return "not yet valid"
    if claim == "aud":
        return f"wrong audience (this controller is {cfg.audience!r})"
    if claim == "iss":
        return "wrong issuer"
    if claim == "iat":
        return "issued in the future"
    return f"invalid {claim} claim"
