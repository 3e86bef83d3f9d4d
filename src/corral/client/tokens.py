"""The user's tokens for remote controllers: cached per controller URL in
$XDG_CONFIG_HOME/corral/tokens.json (default ~/.config/corral), mode 0600, refreshed
when they expire; service accounts get theirs with the client-credentials grant.

`access_token(url)` is what the client sends; `corral login` stores with `save_login`.
A lock file serialises refreshes: a provider that rotates refresh tokens revokes the
whole login when an old one is used twice, as two commands refreshing at once would.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from corral.model.errors import CorralError, Unauthenticated, Unavailable

REFRESH_MARGIN_S = 30.0  # a token this close to its expiry is renewed first


def cache_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "corral" / "tokens.json"


def _key(url: str) -> str:
    """A controller's entry in the cache: its URL without a trailing slash."""
    return url.rstrip("/")


@contextlib.contextmanager
def _locked() -> Iterator[Path]:
    path = cache_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(str(path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise CorralError(f"token cache {path}: unreadable ({e}); remove it and run "
                          f"'corral login'") from None
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _entry(answer: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """A cache entry from a token endpoint's answer (a rotated refresh token replaces
    the old one; an answer without one keeps it)."""
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise Unauthenticated("the identity provider answered without an access token")
    entry = dict(base)
    entry["access_token"] = token
    entry["expires_at"] = time.time() + float(answer.get("expires_in", 300))
    if isinstance(answer.get("refresh_token"), str):
        entry["refresh_token"] = answer["refresh_token"]
    return entry


def save_login(url: str, answer: dict[str, Any], *, issuer: str, client_id: str,
               token_endpoint: str, resource: str | None) -> dict[str, Any]:
    with _locked() as path:
        data = _read(path)
        entry = _entry(answer, {"grant": "device", "issuer": issuer, "client_id": client_id,
                                "token_endpoint": token_endpoint, "resource": resource})
        data[_key(url)] = entry
        _write(path, data)
    return entry


def forget(url: str) -> dict[str, Any] | None:
    """Drop the login for `url` -> what it was (None: there was none)."""
    with _locked() as path:
        data = _read(path)
        entry = data.pop(_key(url), None)
        if entry is not None:
            _write(path, data)
    return entry if isinstance(entry, dict) else None


def cached(url: str) -> dict[str, Any] | None:
    entry = _read(cache_path()).get(_key(url))
    return entry if isinstance(entry, dict) else None


def _fresh(entry: dict[str, Any] | None) -> bool:
    return entry is not None and isinstance(entry.get("access_token"), str) and \
        float(entry.get("expires_at", 0)) - REFRESH_MARGIN_S > time.time()


def _service_secret() -> str | None:
    secret = os.environ.get("CORRAL_CLIENT_SECRET")
    if secret:
        return secret
    secret_file = os.environ.get("CORRAL_CLIENT_SECRET_FILE")
    if secret_file:
        try:
            return Path(secret_file).read_text().strip()
        except OSError as e:
            raise CorralError(f"CORRAL_CLIENT_SECRET_FILE={secret_file}: {e.strerror}") \
                from None
    return None


def _service_token(url: str, client_id: str, secret: str) -> str:
    with _locked() as path:
        data = _read(path)
        entry = data.get(_key(url))
        if isinstance(entry, dict) and entry.get("grant") == "client_credentials" and \
                entry.get("client_id") == client_id and _fresh(entry):
            return str(entry["access_token"])
        info = login_options(url, os.environ.get("CORRAL_OIDC_ISSUER") or None)
        issuer, resource = str(info["issuer"]), info.get("resource")
        from corral.client import oauth  # only when a token is to be fetched
        provider = oauth.discover(issuer)
        scopes = os.environ.get("CORRAL_CLIENT_SCOPE", "").split()
        answer = oauth.client_credentials(provider.token_endpoint, client_id, secret,
                                          scopes, resource)
        entry = _entry(answer, {"grant": "client_credentials", "issuer": issuer,
                                "client_id": client_id})
        data[_key(url)] = entry
        _write(path, data)
        return str(entry["access_token"])


def login_options(url: str, issuer: str | None) -> dict[str, Any]:
    """The issuer (the controller's first, or the one named), its client for logins,
    scopes and resource, as the controller tells them (GET /v1/auth)."""
    from corral.client.transport import Transport
    transport = Transport(url, token=None)
    try:
        info = transport.request("GET", "/v1/auth", timeout_s=10.0)
    finally:
        transport.close()
    issuers = [i for i in (info or {}).get("issuers", []) if isinstance(i, dict)]
    if issuer is not None:
        issuers = [i for i in issuers if i.get("issuer") == issuer]
    if not issuers:
        named = f" {issuer}" if issuer else ""
        raise CorralError(f"controller {url}: it takes tokens from no issuer{named} "
                          f"(auth.issuers)")
    return issuers[0]


def check_channel(url: str) -> None:
    """Tokens go to a controller over https, over plain http only on the loopback."""
    if url.startswith("http://"):
        host = urlsplit(url).hostname or ""
        if not (host in ("localhost", "::1") or host.startswith("127.")):
            raise CorralError(f"{url}: tokens are sent only over https:// (plain http "
                              f"only to the loopback)")


def access_token(url: str) -> str | None:
    """The token to send to the controller at `url`: a service account's
    (CORRAL_CLIENT_ID with CORRAL_CLIENT_SECRET or CORRAL_CLIENT_SECRET_FILE), else
    the cached login's, renewed when it is about to expire; None when there is none."""
    client_id = os.environ.get("CORRAL_CLIENT_ID")
    secret = _service_secret() if client_id else None
    if client_id and secret:
        check_channel(url)
        return _service_token(url, client_id, secret)
    entry = cached(url)
    if entry is None or entry.get("grant") != "device":
        return None
    check_channel(url)
    if _fresh(entry):
        return str(entry["access_token"])
    with _locked() as path:
        data = _read(path)
        entry = data.get(_key(url))
        if not isinstance(entry, dict):
            return None
        if _fresh(entry):  # another command renewed it meanwhile
            return str(entry["access_token"])
        if isinstance(entry.get("credential"), dict):  # the controller renews the login
            entry = _entry(_from_controller(url, "/v1/credentials/token", entry), entry)
            data[_key(url)] = entry
            _write(path, data)
            return str(entry["access_token"])
        refresh_token = entry.get("refresh_token")
        from corral.client import oauth  # only when a token is to be renewed
        if not isinstance(refresh_token, str):
            raise Unauthenticated(f"the login for {url} has expired: run 'corral login'")
        try:
            answer = oauth.refresh(str(entry["token_endpoint"]), str(entry["client_id"]),
                                   refresh_token, entry.get("resource"))
        except oauth.OAuthError as e:
            if e.error in ("invalid_grant", "invalid_token"):
                raise Unauthenticated(f"the login for {url} has expired or was revoked: "
                                      f"run 'corral login'") from None
            raise
        entry = _entry(answer, entry)
        data[_key(url)] = entry
        _write(path, data)
        return str(entry["access_token"])


# ---- job credentials (docs/identity.md): the login handed over to the controller ----

def _from_controller(url: str, path: str, entry: dict[str, Any]) -> dict[str, Any]:
    """POST the handle the controller gave for this login (no bearer token: the
    client's own may have expired)."""
    from corral.client.transport import Transport
    cred = entry["credential"]
    transport = Transport(url, token=None)
    try:
        answer = transport.request("POST", path, body={"id": cred.get("id"),
                                                       "handle": cred.get("handle")},
                                   timeout_s=30.0)
    except Unauthenticated:
        raise Unauthenticated(f"the login for {url} has expired or was revoked: "
                              f"run 'corral login'") from None
    finally:
        transport.close()
    return answer if isinstance(answer, dict) else {}


def hand_over(url: str, send: Any) -> str | None:
    """Before a `--credential` submit: hand this login's refresh token to the
    controller, which renews the login from then on (for the jobs, and for this
    client through the handle it answers with) -> the access token to use now;
    None when there is nothing to hand over (no login here, or handed over already).

    `send(body)` posts to /v1/credentials. The refresh token leaves the cache before
    it is sent: a rotating provider revokes a whole sign-in whose spent refresh
    token is used again, so the client never keeps one the controller may have
    used. A refusal the controller answered (it did not use it) puts it back."""
    entry = cached(url)
    if entry is None or entry.get("grant") != "device" or \
            isinstance(entry.get("credential"), dict):
        return None
    with _locked() as path:
        data = _read(path)
        entry = data.get(_key(url))
        if not isinstance(entry, dict) or isinstance(entry.get("credential"), dict):
            return None
        refresh_token = entry.get("refresh_token")
        if not isinstance(refresh_token, str):
            raise Unauthenticated(f"the login for {url} has no refresh token to hand over "
                                  f"for --credential: run 'corral login'")
        kept = dict(entry)
        entry = {k: v for k, v in entry.items() if k != "refresh_token"}
        data[_key(url)] = entry
        _write(path, data)
        try:
            answer = send({"refresh_token": refresh_token})
        except CorralError as e:
            if not isinstance(e, Unavailable):  # answered: the controller kept nothing
                data[_key(url)] = kept
                _write(path, data)
            raise
        entry = _entry(answer, entry)
        entry["credential"] = {"id": answer.get("id"), "handle": answer.get("handle")}
        data[_key(url)] = entry
        _write(path, data)
        return str(entry["access_token"])


def revoke_handed_over(url: str, entry: dict[str, Any]) -> bool:
    """End the credential this login handed to the controller (renewals stop, the
    sign-in is revoked at the provider) -> False when there was none."""
    if not isinstance(entry.get("credential"), dict):
        return False
    _from_controller(url, "/v1/credentials/revoke", entry)
    return True
