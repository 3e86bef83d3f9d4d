"""Bearer tokens on the REST API, from a real OpenID provider (tests/oidc.py): a
device sign-in and a service account act as their mapped users; bad tokens are each
refused with a 401 and one line; a key rotation is picked up without a restart;
/metrics, /v1/status and the OpenAPI document need credentials over TCP."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from corral.api.app import create_app
from corral.config import load_config
from tests.api.harness import peer_client, register_n1, start_controller
from tests.oidc import (
    AUDIENCE,
    CLIENT_ID,
    Provider,
    new_key,
    tampered,
    unsigned,
)

ACCOUNTS = {"alice": {"groups": ["hpc", "physics"], "roles": ["operator"]},
            "bob": {"groups": []}, "nobody": {}, "stranger": {}, "root": {}}


def auth_config(p: Provider, *, refetch_s: float = 0.2, extra: str = "",
                skew_s: int = 30, max_age_s: int = 3600) -> str:
    return f"""
[auth]
{extra}
[[auth.issuers]]
issuer = "{p.issuer}"
audience = "{AUDIENCE}"
algorithms = ["ES256"]
client_id = "{CLIENT_ID}"
resource = "{AUDIENCE}"
jwks_refetch_min_s = {refetch_s}
clock_skew_s = {skew_s}
jwks_max_age_s = {max_age_s}
[auth.issuers.users]
alice = {{ user = "alice", uid = 4242, gid = 4343 }}
bob = "bob-local"
[auth.issuers.clients]
corral-ci = {{ user = "ci", uid = 4444 }}
"""


Scenario = Callable[[httpx.AsyncClient, httpx.AsyncClient, Any], Awaitable[None]]


def run(tmp_path: Path, config: str, scenario: Scenario) -> None:
    """A controller in-process; `tcp` is a client with no peer uid (as over TCP),
    `local` one on the Unix socket as this process."""
    async def main() -> None:
        (tmp_path / "corral.toml").write_text(config)
        ctl = await start_controller(tmp_path)
        app = create_app(ctl)
        tcp = peer_client(app, None)
        local = peer_client(app, os.getuid())
        await register_n1(local)
        try:
            await scenario(tcp, local, app)
        finally:
            await tcp.aclose()
            await local.aclose()
            await app.state.tokens.close()
            await ctl.stop()
            ctl.engine.dispose()
    asyncio.run(main())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


JOB = {"name": "t", "working_dir": "/tmp", "argv": ["true"], "hold": True}


def test_a_device_sign_in_acts_as_its_mapped_user(tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)
    login = p.device_login("alice")
    assert login.get("refresh_token")

    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, _: Any) -> None:
        r = await tcp.get("/v1/whoami", headers=bearer(login["access_token"]))
        assert r.status_code == 200, r.text
        assert r.json() == {"user": "alice", "uid": 4242, "gid": 4343, "role": "operator",
                            "via": "token", "issuer": p.issuer, "subject": "alice",
                            "groups": ["4343", "hpc", "physics"]}
        r = await tcp.post("/v1/jobs", json=JOB, headers=bearer(login["access_token"]))
        assert r.status_code == 201, r.text
        job = (await local.get(f"/v1/jobs/{r.json()['id']}")).json()
        assert (job["user"], job["uid"]) == ("alice", 4242)
        # a refreshed token is as good
        refreshed = httpx.post(p.token_endpoint(), data={
            "grant_type": "refresh_token", "refresh_token": login["refresh_token"],
            "client_id": CLIENT_ID, "resource": AUDIENCE}).json()
        r = await tcp.get("/v1/jobs", headers=bearer(refreshed["access_token"]))
        assert r.status_code == 200 and [j["user"] for j in r.json()["jobs"]] == ["alice"]
        # the Unix socket is the kernel's word, whatever token comes with it
        r = await local.get("/v1/whoami", headers=bearer(login["access_token"]))
        assert r.json()["via"] == "socket" and r.json()["uid"] == os.getuid()
    run(tmp_path, auth_config(p), scenario)


def test_a_service_account_acts_as_its_listed_user(tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)

    async def scenario(tcp: httpx.AsyncClient, _: httpx.AsyncClient, __: Any) -> None:
        r = await tcp.get("/v1/whoami", headers=bearer(p.service_token()))
        assert r.status_code == 200, r.text
        assert (r.json()["user"], r.json()["uid"], r.json()["gid"]) == ("ci", 4444, 4444)
        assert r.json()["subject"] == "corral-ci"
    run(tmp_path, auth_config(p), scenario)


def test_users_map_through_the_user_database_or_are_refused(
        tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)

    async def scenario(tcp: httpx.AsyncClient, _: httpx.AsyncClient, __: Any) -> None:
        r = await tcp.get("/v1/whoami", headers=bearer(p.device_login("nobody")["access_token"]))
        assert r.status_code == 200, r.text
        assert (r.json()["user"], r.json()["uid"]) == ("nobody", 65534)
        for who, words in [("stranger", "no local user 'stranger'"),
                           ("bob", "no local user 'bob-local'"),
                           ("root", "no token acts as root")]:
            r = await tcp.get("/v1/whoami", headers=bearer(p.device_login(who)["access_token"]))
            assert r.status_code == 403 and words in r.json()["message"], r.text
    run(tmp_path, auth_config(p), scenario)


def test_bad_tokens_are_refused_each_with_its_reason(tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)
    good = p.device_login("alice")["access_token"]
    now = int(time.time())
    stray = new_key()
    cases = {
        "expired": p.forge({"exp": now - 120}),
        "not yet valid": p.forge({"nbf": now + 120}),
        "wrong audience": p.forge({"aud": "https://other.test"}),
        "wrong issuer": p.forge({"iss": "https://idp.elsewhere.test"}),
        "alg none": unsigned(good),
        "unknown key": p.forge({}, key=stray),
        "bad signature": tampered(good, preferred_username="bob"),
        "not one of ES256": p.forge({}, header={"alg": "HS256"}),
        "no exp claim": p.forge({"exp": None}),
        "not a JWT": "opaque-token-value",
    }

    async def scenario(tcp: httpx.AsyncClient, _: httpx.AsyncClient, __: Any) -> None:
        r = await tcp.get("/v1/jobs", headers=bearer(good))
        assert r.status_code == 200, r.text
        for reason, token in cases.items():
            r = await tcp.get("/v1/jobs", headers=bearer(token))
            message = r.json()["message"]
            assert r.status_code == 401 and reason in message, (reason, r.text)
            assert "\n" not in message and message.startswith("token refused: ")
        r = await tcp.get("/v1/jobs")
        assert r.status_code == 401 and "corral login" in r.json()["message"]
        r = await tcp.get("/v1/jobs", headers={"Authorization": "Basic YTpi"})
        assert r.status_code == 401 and "Bearer" in r.json()["message"]
    run(tmp_path, auth_config(p), scenario)


def test_an_unknown_key_refetches_the_key_set_at_most_once_a_while(
        tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)
    stray = p.forge({}, key=new_key())

    async def scenario(tcp: httpx.AsyncClient, _: httpx.AsyncClient, app: Any) -> None:
        keys = app.state.tokens.issuers[p.issuer]
        r = await tcp.get("/v1/jobs", headers=bearer(p.service_token()))
        assert r.status_code == 200 and keys.fetches == 1
        for _ in range(20):
            r = await tcp.get("/v1/jobs", headers=bearer(stray))
            assert r.status_code == 401 and "unknown key" in r.json()["message"]
        assert keys.fetches == 1
    run(tmp_path, auth_config(p, refetch_s=3600), scenario)


def test_a_key_rotation_is_picked_up_without_a_restart(tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)

    async def scenario(tcp: httpx.AsyncClient, _: httpx.AsyncClient, app: Any) -> None:
        old = p.service_token()
        r = await tcp.get("/v1/whoami", headers=bearer(old))
        assert r.status_code == 200, r.text
        new_key_id = p.rotate()["kid"]
        new = p.service_token()
        header = new.split(".")[0]
        assert new_key_id in _decoded(header).get("kid", "")
        await asyncio.sleep(0.3)  # past jwks_refetch_min_s
        r = await tcp.get("/v1/whoami", headers=bearer(new))
        assert r.status_code == 200, r.text
        assert app.state.tokens.issuers[p.issuer].fetches == 2
        r = await tcp.get("/v1/whoami", headers=bearer(old))  # the old key is still listed
        assert r.status_code == 200, r.text
    run(tmp_path, auth_config(p), scenario)


def test_a_token_known_to_the_controller_still_ends_at_its_expiry(
        tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS, access_token_ttl_s=3)
    token = p.service_token()

    async def scenario(tcp: httpx.AsyncClient, _: httpx.AsyncClient, app: Any) -> None:
        for _ in range(3):  # the first is checked; the others are recalled
            assert (await tcp.get("/v1/whoami", headers=bearer(token))).status_code == 200
        assert app.state.tokens.recall(token) is not None
        exp = _decoded(token.split(".")[1])["exp"]
        await asyncio.sleep(max(0.0, exp - time.time()) + 0.2)
        r = await tcp.get("/v1/whoami", headers=bearer(token))
        assert r.status_code == 401 and r.json()["message"] == "token refused: expired"
    run(tmp_path, auth_config(p, skew_s=0), scenario)


def test_an_unreachable_provider_is_a_503_to_try_again(tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)
    token = p.service_token()
    p.stop()

    async def scenario(tcp: httpx.AsyncClient, _: httpx.AsyncClient, __: Any) -> None:
        r = await tcp.get("/v1/whoami", headers=bearer(token))
        assert r.status_code == 503 and r.json()["message"].startswith(
            f"issuer {p.issuer}: cannot fetch"), r.text
        p.start()
        r = await tcp.get("/v1/whoami", headers=bearer(token))
        assert r.status_code == 200, r.text
        # once it has the keys, an outage past their age does not stop them verifying
        unseen = p.service_token()
        p.stop()
        await asyncio.sleep(1.2)
        r = await tcp.get("/v1/whoami", headers=bearer(unseen))
        assert r.status_code == 200, r.text
    run(tmp_path, auth_config(p, max_age_s=1), scenario)


def _decoded(segment: str) -> dict[str, Any]:
    import base64
    import json
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def test_status_metrics_and_openapi_need_credentials_over_tcp(
        tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)
    paths = ["/metrics", "/v1/status", "/openapi.json", "/docs"]

    async def denied(tcp: httpx.AsyncClient, local: httpx.AsyncClient, _: Any) -> None:
        for path in paths:
            r = await tcp.get(path)
            assert r.status_code == 401 and "anonymous_read" in r.json()["message"], path
            assert (await tcp.get(path, headers=bearer(p.service_token()))).status_code == 200
            r = await tcp.get(path, headers=bearer(p.forge({"exp": int(time.time()) - 300})))
            assert r.status_code == 401, path
            assert (await local.get(path)).status_code == 200, path
        r = await tcp.get("/v1/auth")  # how to get a token: open to all
        assert r.status_code == 200 and r.json()["issuers"] == [{
            "issuer": p.issuer, "client_id": CLIENT_ID, "audience": AUDIENCE,
            "resource": AUDIENCE, "scopes": ["openid", "offline_access"]}]
    run(tmp_path, auth_config(p), denied)

    async def anonymous(tcp: httpx.AsyncClient, _: httpx.AsyncClient, __: Any) -> None:
        for path in paths:
            assert (await tcp.get(path)).status_code == 200, path
        assert (await tcp.get("/v1/jobs")).status_code == 401
    (tmp_path / "b").mkdir()
    run(tmp_path / "b", auth_config(p, extra="anonymous_read = true"), anonymous)


def test_bad_auth_settings_are_one_line_errors(tmp_path: Path) -> None:
    import pytest

    from corral.model.errors import InvalidRequest
    issuer = '[[auth.issuers]]\naudience = "a"\nissuer = '
    cases = {
        f'{issuer}"http://idp.example.test"': "needs an https:// URL (http:// only on the "
                                              "loopback), got 'http://idp.example.test'",
        f'{issuer}"https://i.test"\nalgorithms = ["none"]': "auth.issuers.0.algorithms.0",
        f'{issuer}"https://i.test"\n{issuer}"https://i.test"': "an issuer is listed twice",
        f'{issuer}"https://i.test"\nusers = {{ a = {{ user = "x", uid = 0 }} }}':
            "auth.issuers.0.users.a",
        '[controller]\ntls_cert_file = "/c.pem"': "tls_key_file go together",
        '[auth]\nanonymous = true': "unknown key 'auth.anonymous'",
    }
    for text, words in cases.items():
        (tmp_path / "corral.toml").write_text(text)
        with pytest.raises(InvalidRequest) as err:
            load_config(str(tmp_path))
        assert words in str(err.value) and "\n" not in str(err.value), (text, err.value)


def test_a_controller_with_unreadable_tls_files_says_so_and_stops(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.oidc import free_port
    (tmp_path / "corral.toml").write_text(
        f'[controller]\nlisten = "127.0.0.1:{free_port()}"\n'
        f'tls_cert_file = "{tmp_path}/none.pem"\ntls_key_file = "{tmp_path}/none.key"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    proc = subprocess.run([sys.executable, "-m", "corral.api.server", "--state-dir",
                           str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"cannot load {tmp_path}/none.pem and {tmp_path}/none.key" in proc.stderr
    assert not (tmp_path / "corral.sock").exists()  # it stopped before listening


def test_two_issuers_each_with_its_own_keys(tmp_path: Path, make_provider: Any) -> None:
    a, b = make_provider(ACCOUNTS), make_provider(ACCOUNTS)
    config = auth_config(a) + f"""
[[auth.issuers]]
issuer = "{b.issuer}"
audience = "{AUDIENCE}"
algorithms = ["ES256"]
[auth.issuers.clients]
corral-ci = {{ user = "ci-b", uid = 4545 }}
"""

    async def scenario(tcp: httpx.AsyncClient, _: httpx.AsyncClient, __: Any) -> None:
        for p, uid in ((a, 4444), (b, 4545)):
            r = await tcp.get("/v1/whoami", headers=bearer(p.service_token()))
            assert r.status_code == 200 and (r.json()["issuer"], r.json()["uid"]) == (
                p.issuer, uid), r.text
        # a token that names issuer a but is signed with b's key: a has no such key
        crossed = b.forge({"iss": a.issuer, "preferred_username": None,
                           "client_id": "corral-ci"})
        r = await tcp.get("/v1/whoami", headers=bearer(crossed))
        assert r.status_code == 401 and "unknown key" in r.json()["message"], r.text
    run(tmp_path, config, scenario)
