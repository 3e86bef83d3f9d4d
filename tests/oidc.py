"""A real OpenID provider for the tests: scripts/oidc-provider (the npm package
`oidc-provider`, installed by scripts/install-test-deps) on a free loopback port,
with the device flow, client credentials and refresh tokens. The test plays the
browser's part of a device sign-in against the provider's own pages.

Only the negative cases forge tokens (`forge`), with the JOSE library.
"""

from __future__ import annotations

import base64
import fcntl
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from tests.conftest import REPO, free_port

PROVIDER_DIR = REPO / "scripts" / "oidc-provider"
AUDIENCE = "https://corral.test"
CLIENT_ID = "corral-cli"
SERVICE_ID = "corral-ci"
SERVICE_SECRET = "ci-secret-for-tests-only-0123456789"
PASSWORD = "not-checked-by-the-dev-sign-in-pages"


def new_key() -> dict[str, Any]:
    key = ECKey.generate_key("P-256", parameters={"alg": "ES256", "use": "sig"}, private=True,
                             auto_kid=True)
    return dict(key.as_dict(private=True))


class Provider:
    def __init__(self, root: Path, accounts: dict[str, dict[str, Any]],
                 access_token_ttl_s: int = 300) -> None:
        self.root = root
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.accounts = accounts
        self.access_token_ttl_s = access_token_ttl_s
        self.keys = [new_key()]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "oidc-provider.log"

    def config(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer, "port": self.port, "host": "127.0.0.1",
            "audience": AUDIENCE, "access_token_ttl_s": self.access_token_ttl_s,
            "keys": self.keys, "accounts": self.accounts,
            "clients": [
                {"client_id": CLIENT_ID, "token_endpoint_auth_method": "none",
                 "grant_types": ["urn:ietf:params:oauth:grant-type:device_code",
                                 "refresh_token"],
                 "response_types": [], "redirect_uris": []},
                {"client_id": SERVICE_ID, "client_secret": SERVICE_SECRET,
                 "grant_types": ["client_credentials"], "response_types": [],
                 "redirect_uris": []},
            ],
        }

    def start(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise AssertionError("the test OpenID provider needs Node.js (node)")
        ensure_installed()
        path = self.root / "oidc-provider.json"
        path.write_text(json.dumps(self.config()))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([node, str(PROVIDER_DIR / "server.js"), str(path)],
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"oidc-provider exited: {self.log.read_text()[-2000:]}")
            try:
                r = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"oidc-provider did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def rotate(self) -> dict[str, Any]:
        """A new signing key first in the set (the old one kept to verify), the
        provider restarted on the same port -> the new key."""
        self.stop()
        self.keys = [new_key(), *self.keys]
        self.start()
        return self.keys[0]

    # grants, as a client would use them
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    def service_token(self) -> str:
        r = httpx.post(self.token_endpoint(), data={"grant_type": "client_credentials",
                                                    "resource": AUDIENCE},
                       auth=(SERVICE_ID, SERVICE_SECRET))
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def device_login(self, user: str) -> dict[str, Any]:
        """The whole device flow, the client's part and the browser's -> the token
        answer (access and refresh tokens)."""
        r = httpx.post(f"{self.issuer}/device/auth", data={
            "client_id": CLIENT_ID, "scope": "openid offline_access", "resource": AUDIENCE})
        assert r.status_code == 200, r.text
        code = r.json()
        self.approve(code["verification_uri"], code["user_code"], user)
        r = httpx.post(self.token_endpoint(), data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": code["device_code"], "client_id": CLIENT_ID, "resource": AUDIENCE})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def approve(self, verification_uri: str, user_code: str, user: str) -> None:
        """The browser's part of a device sign-in: enter the code, confirm, sign in
        as `user`, consent — on the provider's own pages."""
        with httpx.Client(follow_redirects=True, timeout=10) as browser:
            page = browser.get(verification_uri)
            page = browser.post(str(page.url), data={
                "xsrf": form_field(page.text, "xsrf"), "user_code": user_code})
            page = browser.post(str(page.url), data={
                "xsrf": form_field(page.text, "xsrf"), "user_code": user_code, "confirm": "yes"})
            assert 'name="prompt" value="login"' in page.text, page.text[-2000:]
            page = browser.post(_action(page), data={
                "prompt": "login", "login": user, "password": PASSWORD})
            if 'name="prompt" value="consent"' in page.text:
                page = browser.post(_action(page), data={"prompt": "consent"})
            assert "Sign-in Success" in page.text, page.text[-2000:]

    # forged tokens, for the negative cases only
    def forge(self, claims: dict[str, Any], *, key: dict[str, Any] | None = None,
              header: dict[str, Any] | None = None) -> str:
        """A token signed with one of the provider's own keys (default: its current
        one) or another `key`, with these claims over sound defaults."""
        signer = key or self.keys[0]
        now = int(time.time())
        body = {"iss": self.issuer, "aud": AUDIENCE, "sub": "alice",
                "preferred_username": "alice", "iat": now, "exp": now + 300, **claims}
        head = {"alg": "ES256", "kid": signer["kid"], "typ": "at+jwt", **(header or {})}
        payload = {k: v for k, v in body.items() if v is not None}
        if head["alg"] == "HS256":  # the old trick: the public key as an HMAC secret
            secret = OctKey.import_key(json.dumps({k: signer[k] for k in ("x", "y")}))
            return jwt.encode(head, payload, secret, algorithms=["HS256"])
        return jwt.encode(head, payload, ECKey.import_key(signer))


def ensure_installed() -> None:
    """scripts/install-test-deps installs the provider; a checkout where it has not
    run (a new work tree) gets it here, once, under a lock (the test tiers run side
    by side), from the pinned package-lock.json."""
    if (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise AssertionError("the test OpenID provider is not installed and npm is "
                             "missing: run scripts/install-test-deps")
    with open(PROVIDER_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=PROVIDER_DIR, check=True, capture_output=True, timeout=300)


def form_field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert m is not None, html[-2000:]
    return m.group(1)


def _action(page: httpx.Response) -> str:
    m = re.search(r'<form[^>]*action="([^"]+)"', page.text)
    assert m is not None, page.text[-2000:]
    return str(page.url.join(m.group(1)))


def unsigned(token: str, **changes: Any) -> str:
    """`token` with its header's alg set to none and no signature."""
    head, body, _sig = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header.update(alg="none", **changes)
    enc = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{enc}.{body}."


def tampered(token: str, **claims: Any) -> str:
    """`token` with claims changed and its signature kept."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(claims)
    enc = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{head}.{enc}.{sig}"


@pytest.fixture
def make_provider(tmp_path: Path) -> Iterator[Any]:
    started: list[Provider] = []

    def make(accounts: dict[str, dict[str, Any]], **kw: Any) -> Provider:
        p = Provider(tmp_path, accounts, **kw)
        started.append(p)
        p.start()
        return p
    try:
        yield make
    finally:
        for p in started:
            p.stop()
