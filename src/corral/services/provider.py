"""The controller's calls to an OpenID provider for job credentials: discovery,
the refresh-token grant, revocation (RFC 7009). Domain errors only: Refused when the
provider says no (its error code kept), Unavailable when it cannot be reached."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from corral.model.errors import CorralError, Unavailable

DISCOVERY_MAX_AGE_S = 3600.0


class Refused(CorralError):
    """The provider refused a grant; `error` is its code (RFC 6749 §5.2)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True, slots=True)
class Endpoints:
    token: str
    revocation: str | None


class ProviderClient:
    def __init__(self, timeout_s: float, http: httpx.AsyncClient | None = None) -> None:
        self.http = http or httpx.AsyncClient(follow_redirects=False, timeout=timeout_s)
        self._endpoints: dict[str, tuple[float, Endpoints]] = {}

    async def close(self) -> None:
        await self.http.aclose()

    async def _json(self, method: str, url: str, form: dict[str, str] | None = None
                    ) -> tuple[int, Any]:
        try:
            r = await self.http.request(method, url, data=form,
                                        headers={"Accept": "application/json"})
        except httpx.HTTPError as e:
            raise Unavailable(f"identity provider: cannot reach {url}: "
                              f"{type(e).__name__}: {e}") from None
        try:
            return r.status_code, r.json() if r.content.strip() else {}
        except ValueError:
            return r.status_code, None

    async def endpoints(self, issuer: str) -> Endpoints:
        cached = self._endpoints.get(issuer)
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_MAX_AGE_S:
            return cached[1]
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        status, doc = await self._json("GET", url)
        if status != 200 or not isinstance(doc, dict) or \
                not isinstance(doc.get("token_endpoint"), str):
            raise Unavailable(f"issuer {issuer}: no usable discovery document at {url} "
                              f"(HTTP {status})")
        revocation = doc.get("revocation_endpoint")
        found = Endpoints(doc["token_endpoint"],
                          revocation if isinstance(revocation, str) else None)
        self._endpoints[issuer] = (time.monotonic(), found)
        return found

    async def refresh(self, token_endpoint: str, client_id: str, refresh_token: str,
                      resource: str | None) -> dict[str, Any]:
        """The refresh-token grant -> the provider's answer (a rotating provider's
        holds a new refresh token; the one sent is then spent)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token,
                "client_id": client_id}
        if resource:
            form["resource"] = resource
        status, answer = await self._json("POST", token_endpoint, form)
        if status == 200 and isinstance(answer, dict) and \
                isinstance(answer.get("access_token"), str):
            return answer
        if isinstance(answer, dict) and isinstance(answer.get("error"), str):
            text = answer.get("error_description") or answer["error"]
            if status >= 500 or answer["error"] == "temporarily_unavailable":
                raise Unavailable(f"identity provider: {text}")
            raise Refused(answer["error"], f"the provider refused the refresh: {text}")
        raise Unavailable(f"identity provider: {token_endpoint} answered HTTP {status}")

    async def revoke(self, issuer: str, client_id: str, refresh_token: str) -> bool:
        """Revoke a refresh token -> False when the provider offers no revocation or
        cannot be reached (it then lapses on its own)."""
        try:
            ends = await self.endpoints(issuer)
            if ends.revocation is None:
                return False
            status, _ = await self._json("POST", ends.revocation, {
                "token": refresh_token, "client_id": client_id,
                "token_type_hint": "refresh_token"})
        except Unavailable:
            return False
        return status == 200


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, read without checking its signature: only for a token this
    controller just received from the provider's own token endpoint."""
    try:
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
