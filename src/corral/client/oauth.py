"""OAuth 2.0 with an OpenID provider, on the standard library: discovery, the device
authorization grant (RFC 8628), refresh, client credentials.

Imported only when the controller is remote: the local commands never load it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corral.client.transport import tls_context
from corral.model.errors import CorralError, Unauthenticated, Unavailable

HTTP_TIMEOUT_S = 15.0
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class OAuthError(Unauthenticated):
    """The provider said no: `error` is its code (RFC 6749 section 5.2)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


def _call(url: str, form: dict[str, str] | None = None,
          auth: tuple[str, str] | None = None, *, empty_ok: bool = False) -> dict[str, Any]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, headers={"Accept": "application/json"})
    if auth is not None:
        import base64
        pair = f"{urllib.parse.quote(auth[0])}:{urllib.parse.quote(auth[1])}"
        req.add_header("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    context = tls_context() if url.startswith("https://") else None
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S, context=context) as answer:
            body = answer.read(1 << 20)
    except urllib.error.HTTPError as e:
        body = e.read(1 << 20)
        try:
            err = json.loads(body)
        except ValueError:
            err = None
        if isinstance(err, dict) and isinstance(err.get("error"), str):
            text = err.get("error_description") or err["error"]
            raise OAuthError(err["error"], f"{url}: {text}") from None
        raise Unavailable(f"{url}: HTTP {e.code}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise Unavailable(f"identity provider: cannot reach {url}: {reason}") from None
    if empty_ok and not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise Unavailable(f"{url}: not a JSON object")
    return doc


@dataclass(frozen=True)
class Provider:
    """An issuer's endpoints, from its discovery document."""

    issuer: str
    token_endpoint: str
    device_endpoint: str | None
    revocation_endpoint: str | None = None


def discover(issuer: str) -> Provider:
    doc = _call(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
    if doc.get("issuer") != issuer:
        raise Unavailable(f"issuer {issuer}: its discovery document names another issuer "
                          f"({doc.get('issuer')!r})")
    token = doc.get("token_endpoint")
    if not isinstance(token, str):
        raise Unavailable(f"issuer {issuer}: no token_endpoint in its discovery document")
    device = doc.get("device_authorization_endpoint")
    revocation = doc.get("revocation_endpoint")
    return Provider(issuer, token, device if isinstance(device, str) else None,
                    revocation if isinstance(revocation, str) else None)


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in_s: float
    interval_s: float


def _resource_form(resource: str | None) -> dict[str, str]:
    return {"resource": resource} if resource else {}


def start_device_flow(provider: Provider, client_id: str, scopes: list[str],
                      resource: str | None) -> DeviceCode:
    if provider.device_endpoint is None:
        raise CorralError(f"issuer {provider.issuer}: it offers no device authorization "
                          f"(no device_authorization_endpoint)")
    doc = _call(provider.device_endpoint, {"client_id": client_id, "scope": " ".join(scopes),
                                           **_resource_form(resource)})
    try:
        return DeviceCode(str(doc["device_code"]), str(doc["user_code"]),
                          str(doc.get("verification_uri") or doc["verification_url"]),
                          doc.get("verification_uri_complete"),
                          float(doc.get("expires_in", 600)), float(doc.get("interval", 5)))
    except (KeyError, TypeError, ValueError):
        raise Unavailable(f"{provider.device_endpoint}: an answer without device_code, "
                          f"user_code and verification_uri") from None


def poll_device_flow(provider: Provider, client_id: str, code: DeviceCode,
                     resource: str | None, *, sleep: Callable[[float], None] = time.sleep
                     ) -> dict[str, Any]:
    """Wait until the user has approved (-> the token answer), refused or let the
    code expire (-> OAuthError)."""
    deadline = time.monotonic() + code.expires_in_s
    interval_s = max(code.interval_s, 1.0)
    while True:
        sleep(interval_s)
        try:
            return _call(provider.token_endpoint, {
                "grant_type": DEVICE_GRANT, "device_code": code.device_code,
                "client_id": client_id, **_resource_form(resource)})
        except OAuthError as e:
            if e.error == "slow_down":
                interval_s += 5
            elif e.error != "authorization_pending":
                if e.error == "expired_token":
                    raise OAuthError(e.error, "the code expired before it was approved; "
                                              "run 'corral login' again") from None
                if e.error == "access_denied":
                    raise OAuthError(e.error, "the sign-in was refused") from None
                raise
        if time.monotonic() > deadline:
            raise OAuthError("expired_token", "the code expired before it was approved; "
                                              "run 'corral login' again")


def refresh(token_endpoint: str, client_id: str, refresh_token: str,
            resource: str | None) -> dict[str, Any]:
    return _call(token_endpoint, {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                  "client_id": client_id, **_resource_form(resource)})


def client_credentials(token_endpoint: str, client_id: str, secret: str,
                       scopes: list[str], resource: str | None) -> dict[str, Any]:
    form = {"grant_type": "client_credentials", **_resource_form(resource)}
    if scopes:
        form["scope"] = " ".join(scopes)
    return _call(token_endpoint, form, auth=(client_id, secret))


def revoke(issuer: str, client_id: str, refresh_token: str) -> bool:
    """Revoke a refresh token (RFC 7009) -> False when the provider offers no
    revocation or cannot be reached (the token then lapses on its own)."""
    try:
        provider = discover(issuer)
        if provider.revocation_endpoint is None:
            return False
        _call(provider.revocation_endpoint, {"token": refresh_token, "client_id": client_id,
                                             "token_type_hint": "refresh_token"},
              empty_ok=True)
    except CorralError:
        return False
    return True
