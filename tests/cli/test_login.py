"""The client's token cache and the login commands' refusals (the whole sign-in
against a real provider: tests/e2e/test_remote_login.py)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from corral.client import tokens
from corral.model.errors import CorralError, Unauthenticated

URL = "https://cluster.example.test:6817"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for var in ("CORRAL_CLIENT_ID", "CORRAL_CLIENT_SECRET", "CORRAL_CLIENT_SECRET_FILE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_a_login_is_kept_private_and_used_until_it_expires(config_home: Path) -> None:
    tokens.save_login(URL, {"access_token": "A1", "expires_in": 300, "refresh_token": "R1"},
                      issuer="https://idp.test", client_id="cli",
                      token_endpoint="https://idp.test/token", resource=None)
    path = config_home / "corral" / "tokens.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert tokens.access_token(URL) == "A1"  # fresh: no call to the provider
    assert tokens.access_token(URL + "/") == "A1"
    assert tokens.access_token("https://other.test:1") is None
    assert tokens.forget(URL) is not None and tokens.access_token(URL) is None


def test_an_expired_login_without_a_refresh_token_asks_for_a_new_one(config_home: Path) -> None:
    tokens.save_login(URL, {"access_token": "A1", "expires_in": 10},
                      issuer="https://idp.test", client_id="cli",
                      token_endpoint="https://idp.test/token", resource=None)
    with pytest.raises(Unauthenticated, match="has expired: run 'corral login'"):
        tokens.access_token(URL)


def corral(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corral.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env)


def test_login_commands_on_a_local_controller_say_no_login_is_needed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_URL=f"unix://{tmp_path}/corral.sock", XDG_CONFIG_HOME=str(tmp_path))
    for command in ("login", "logout"):
        r = corral(command, env=env)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert r.stderr.startswith(f"corral {command}: error: the controller is unix://")
        assert "without a login" in r.stderr
    r = corral("logout", env={**env, "CORRAL_URL": URL})
    assert r.returncode == 0 and r.stdout == f"Not logged in to {URL}\n"


def test_a_login_is_never_sent_over_plain_http_beyond_the_loopback(config_home: Path) -> None:
    for url in ("http://cluster.example.test:6817", "http://127.0.0.1:6817"):
        tokens.save_login(url, {"access_token": "A1", "expires_in": 300},
                          issuer="https://idp.test", client_id="cli",
                          token_endpoint="https://idp.test/token", resource=None)
    with pytest.raises(CorralError, match="tokens are sent only over https://"):
        tokens.access_token("http://cluster.example.test:6817")
    assert tokens.access_token("http://127.0.0.1:6817") == "A1"


def test_a_refused_sign_in_ends_the_wait_with_one_line(tmp_path: Path, make_provider: Any) -> None:
    import httpx

    from corral.client import oauth
    from tests.oidc import AUDIENCE, CLIENT_ID, form_field
    p = make_provider({"alice": {}})
    provider = oauth.discover(p.issuer)
    code = oauth.start_device_flow(provider, CLIENT_ID, ["openid", "offline_access"], AUDIENCE)
    assert code.verification_uri.startswith(p.issuer) and code.user_code
    waits: list[float] = []
    with httpx.Client(follow_redirects=True, timeout=10) as browser:
        page = browser.get(code.verification_uri)
        page = browser.post(str(page.url), data={"xsrf": form_field(page.text, "xsrf"),
                                                 "user_code": code.user_code})
        page = browser.post(str(page.url), data={
            "xsrf": form_field(page.text, "xsrf"), "user_code": code.user_code,
            "confirm": "yes", "abort": "yes"})
    with pytest.raises(oauth.OAuthError, match=r"^the sign-in was refused$"):
        oauth.poll_device_flow(provider, CLIENT_ID, code, AUDIENCE, sleep=waits.append)
    assert waits and min(waits) >= 1.0  # the provider's interval is kept
