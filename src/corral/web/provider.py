"""The dashboard as an OpenID Connect client of the configured issuers: their
endpoints (from the discovery document), the PKCE pair, the code exchange and the
refresh grant. Every failure is one line (Unavailable: the provider could not be
reached or answered nonsense; Unauthenticated: it refused)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from corral.config import IssuerConfig
from corral.model.errors import Unauthenticated, Unavailable

TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 1 << 20


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    end_session: str | None


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, its S256 code_challenge), RFC 7636."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class ProviderClient:
    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None
        self._endpoints: dict[str, Endpoints] = {}

    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TIMEOUT_S)
        return self._http

    async def _json(self, issuer: IssuerConfig, answer: httpx.Response, url: str
                    ) -> dict[str, Any]:
        try:
            doc = answer.json() if len(answer.content) <= MAX_ANSWER_BYTES else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise Unavailable(f"issuer {issuer.issuer}: {url} answered HTTP "
                              f"{answer.status_code}, not a JSON object")
        return doc

    async def endpoints(self, issuer: IssuerConfig) -> Endpoints:
        known = self._endpoints.get(issuer.issuer)
        if known is not None:
            return known
        url = f"{issuer.issuer.rstrip('/')}/.well-known/openid-configuration"
        try:
            answer = await self.http().get(url)
        except httpx.HTTPError as e:
            raise Unavailable(f"issuer {issuer.issuer}: cannot fetch {url}: "
                              f"{type(e).__name__}") from None
        doc = await self._json(issuer, answer, url)
        auth, token = doc.get("authorization_endpoint"), doc.get("token_endpoint")
        if not (isinstance(auth, str) and isinstance(token, str)):
            raise Unavailable(f"issuer {issuer.issuer}: its discovery document names no "
                              f"authorization_endpoint or token_endpoint")
        end = doc.get("end_session_endpoint")
        known = Endpoints(auth, token, end if isinstance(end, str) else None)
        self._endpoints[issuer.issuer] = known
        return known

    async def _token(self, issuer: IssuerConfig, form: dict[str, str]) -> dict[str, Any]:
        url = (await self.endpoints(issuer)).token
        if issuer.resource:
            form["resource"] = issuer.resource
        try:
            answer = await self.http().post(url, data=form)
        except httpx.HTTPError as e:
            raise Unavailable(f"issuer {issuer.issuer}: cannot reach {url}: "
                              f"{type(e).__name__}") from None
        doc = await self._json(issuer, answer, url)
        if answer.status_code != 200:
            why = str(doc.get("error_description") or doc.get("error") or answer.status_code)
            raise Unauthenticated(f"sign-in refused by {issuer.issuer}: {why[:200]}")
        return doc

    async def exchange(self, issuer: IssuerConfig, code: str, verifier: str,
                       redirect_uri: str) -> dict[str, Any]:
        """The authorization code (and its PKCE verifier) -> the token answer."""
        return await self._token(issuer, {
            "grant_type": "authorization_code", "code": code, "code_verifier": verifier,
            "redirect_uri": redirect_uri, "client_id": str(issuer.web_client_id)})

    async def refresh(self, issuer: IssuerConfig, refresh_token: str) -> dict[str, Any]:
        return await self._token(issuer, {
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": str(issuer.web_client_id)})

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
