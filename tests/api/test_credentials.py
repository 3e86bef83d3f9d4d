"""Job credentials through the REST API, with a real OpenID provider (tests/oidc.py)
that rotates refresh tokens and issues short-lived access tokens: the hand-over,
the sealed store, the renewal (a new refresh token stored at each), the tokens sent
to the job's agent, the client's own tokens by its handle, and revocation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from corral.services.provider import claims_of
from corral.store.schema import credentials as table
from tests.api.harness import peer_client, start_controller
from tests.api.test_openapi import answer_schema, problems
from tests.api.test_tokens import ACCOUNTS, auth_config, bearer, run
from tests.oidc import AUDIENCE, CLIENT_ID

TTL_S = 4
KEY = "a-cluster-key-of-at-least-16-bytes"
JOB = {"name": "c", "working_dir": "/tmp", "argv": ["sleep", "60"], "credential": True}


def config(p: Any) -> str:
    return f"""
[controller]
cluster_key = "{KEY}"
[credentials]
renew_before_s = 60
""" + auth_config(p)


def conforms(doc: dict[str, Any], method: str, path: str, r: httpx.Response) -> None:
    """The answer is what the OpenAPI document says (tests/api/test_openapi.py calls
    every other route; these need a provider)."""
    found = problems(doc, answer_schema(doc, method, path, r.status_code), r.json(),
                     f"{method} {path}")
    assert not found, found


def stored(app: Any) -> dict[str, Any]:
    with app.state.controller.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table)).mappings()]
    assert len(rows) == 1, rows
    return rows[0]


async def orders(local: httpx.AsyncClient, running: list[int], wait_s: float = 0.3
                 ) -> list[dict[str, Any]]:
    r = await local.post("/agent/v1/poll", json={
        "node": "n1", "boot_id": "b1", "wait_s": wait_s, "unacknowledged": [],
        "running": [{"job_id": j, "pid": 1} for j in running]})
    assert r.status_code == 200, r.text
    return list(r.json()["orders"])


@pytest.mark.slow  # four renewals, then a lifetime without one
def test_a_handed_over_sign_in_renews_the_jobs_token_until_revoked(
        tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS, access_token_ttl_s=TTL_S)
    login = p.device_login("alice")
    bob = p.device_login("nobody")  # a local user (uid 65534)

    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, app: Any) -> None:
        alice = bearer(login["access_token"])
        # no sign-in handed over yet: the job is refused, in one line naming the field
        r = await tcp.post("/v1/jobs", json=JOB, headers=alice)
        assert r.status_code == 400 and r.json()["message"].startswith(
            "credential: the controller holds no sign-in of alice"), r.text
        # a refresh token that is not the caller's own sign-in is refused
        r = await tcp.post("/v1/credentials", json={"refresh_token": bob["refresh_token"]},
                           headers=alice)
        assert r.status_code == 403 and "not of the caller's sign-in" in r.text, r.text
        r = await tcp.post("/v1/credentials", json={"refresh_token": "made-up"},
                           headers=alice)
        assert r.status_code == 401 and "refused the refresh" in r.json()["message"], r.text
        # on the Unix socket there is no sign-in to hand over
        r = await local.post("/v1/credentials", json={"refresh_token": "x"})
        assert r.status_code == 400, r.text

        r = await tcp.post("/v1/credentials", json={"refresh_token": login["refresh_token"]},
                           headers=alice)
        assert r.status_code == 201, r.text
        doc = (await local.get("/openapi.json")).json()
        conforms(doc, "POST", "/v1/credentials", r)
        handed = r.json()
        assert claims_of(handed["access_token"])["sub"] == "alice"
        # the provider rotated the refresh token: the client's copy is spent, and the
        # store holds neither the old one nor the new one in clear
        row = stored(app)
        sealer = app.state.controller.credentials.sealer
        ctx = f"{p.issuer} alice"
        rt1 = sealer.open(row["refresh_sealed"], f"refresh {ctx}")
        assert rt1 != login["refresh_token"]
        for secret in (rt1, login["refresh_token"], handed["access_token"], handed["handle"]):
            assert secret not in str(row)
        assert row["handle_hash"] != handed["handle"]

        r = await tcp.post("/v1/jobs", json=JOB, headers=alice)
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        got = await orders(local, [])
        launch = next(o for o in got if o["kind"] == "launch")
        first = launch["launch"]["credential"]["token"]
        if first is None:  # the handed-over token (TTL_S) expired before the launch
            # (a loaded machine): it left without one, and the renewal follows as an order
            assert launch["launch"]["credential"]["expires_at"] == 0, launch
        else:
            assert claims_of(first)["sub"] == "alice"
        assert "credential" not in str(launch["launch"]["environment"])

        # renewed before each expiry, for more than three lifetimes: a new token
        # each time, valid when it arrives, and a new refresh token stored
        seen = [first] if first is not None else []
        refresh_tokens = {rt1}
        deadline = time.monotonic() + 4 * TTL_S + 10
        while len(seen) < 5 and time.monotonic() < deadline:
            for o in await orders(local, [job_id], wait_s=1.0):
                if o["kind"] == "credential":
                    assert o["job_id"] == job_id
                    claims = claims_of(o["token"])
                    assert claims["sub"] == "alice" and claims["exp"] > time.time()
                    assert o["token"] not in seen
                    seen.append(o["token"])
                    refresh_tokens.add(sealer.open(stored(app)["refresh_sealed"],
                                                   f"refresh {ctx}"))
        assert len(seen) >= 5, f"{len(seen) - 1} renewals in {4 * TTL_S + 10} s"
        assert len(refresh_tokens) >= 4  # each renewal stored the rotated one

        # the client gets its own tokens by its handle, no bearer token needed
        body = {"id": handed["id"], "handle": handed["handle"]}
        r = await tcp.post("/v1/credentials/token", json=body)
        assert r.status_code == 200 and claims_of(r.json()["access_token"])["sub"] == "alice"
        conforms(doc, "POST", "/v1/credentials/token", r)
        r = await tcp.post("/v1/credentials/token", json={**body, "handle": "x" * 43})
        assert r.status_code == 401, r.text
        r = await tcp.get("/v1/credentials", headers=bearer(bob["access_token"]))
        assert r.json() == {"credentials": []}
        r = await tcp.get("/v1/credentials", headers=alice)
        assert [c["id"] for c in r.json()["credentials"]] == [handed["id"]]
        conforms(doc, "GET", "/v1/credentials", r)
        # another user may not end alice's; alice may
        r = await tcp.delete(f"/v1/credentials/{handed['id']}",
                             headers=bearer(bob["access_token"]))
        assert r.status_code == 403 and "needs administrator" in r.text, r.text
        fresh = bearer(r2.json()["access_token"]) if (
            r2 := await tcp.post("/v1/credentials/token", json=body)).status_code == 200 \
            else alice
        r = await tcp.delete(f"/v1/credentials/{handed['id']}", headers=fresh)
        assert r.status_code == 200 and r.json() == {"id": handed["id"], "state": "revoked"}
        conforms(doc, "DELETE", "/v1/credentials/{cred_id}", r)

        # renewals stop; the job's events say so; the sign-in is dead at the provider
        events = (await local.get(f"/v1/jobs/{job_id}/events")).json()["events"]
        stop = [e for e in events if e["kind"] == "credential"]
        assert stop and stop[0]["data"]["renewal"] == "stopped", events
        assert "revoked by alice" in stop[0]["data"]["reason"]
        assert stored(app)["state"] == "revoked"
        t_end = time.monotonic() + TTL_S + 2
        while time.monotonic() < t_end:
            assert not [o for o in await orders(local, [job_id], wait_s=0.5)
                        if o["kind"] == "credential"]
        refused = httpx.post(p.token_endpoint(), data={
            "grant_type": "refresh_token", "client_id": CLIENT_ID, "resource": AUDIENCE,
            "refresh_token": sealer.open(stored(app)["refresh_sealed"], f"refresh {ctx}")})
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        r = await tcp.post("/v1/credentials/token", json=body)
        assert r.status_code == 401, r.text
        # the audit trail has the hand-over without the token
        entries = (await local.get("/v1/audit?action=credential_handover")).json()["entries"]
        assert entries and all(login["refresh_token"] not in str(e) for e in entries)
        assert entries[-1]["request"]["refresh_token"] == "(withheld)"
    run(tmp_path, config(p), scenario)


def test_a_sign_in_the_provider_revokes_stops_the_renewal(
        tmp_path: Path, make_provider: Any) -> None:
    """The user revokes the sign-in at the provider (not through corral): the next
    renewal is refused, the credential ends, the job's events say why."""
    p = make_provider(ACCOUNTS, access_token_ttl_s=TTL_S)
    login = p.device_login("alice")

    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, app: Any) -> None:
        alice = bearer(login["access_token"])
        r = await tcp.post("/v1/credentials", json={"refresh_token": login["refresh_token"]},
                           headers=alice)
        assert r.status_code == 201, r.text
        r = await tcp.post("/v1/jobs", json=JOB, headers=alice)
        job_id = r.json()["id"]
        await orders(local, [])
        sealer = app.state.controller.credentials.sealer
        rt = sealer.open(stored(app)["refresh_sealed"], f"refresh {p.issuer} alice")
        revoked = httpx.post(f"{p.issuer}/token/revocation", data={
            "token": rt, "client_id": CLIENT_ID, "token_type_hint": "refresh_token"})
        assert revoked.status_code == 200, revoked.text
        deadline = time.monotonic() + TTL_S + 8
        while stored(app)["state"] == "active" and time.monotonic() < deadline:
            await orders(local, [job_id], wait_s=0.5)
        row = stored(app)
        assert row["state"] == "revoked" and "refused the refresh" in row["reason"], row
        events = (await local.get(f"/v1/jobs/{job_id}/events")).json()["events"]
        assert [e["data"]["renewal"] for e in events if e["kind"] == "credential"] == [
            "stopped"]
        await asyncio.sleep(0)
    run(tmp_path, config(p), scenario)


def test_logout_revoke_ends_the_credential_by_its_handle(
        tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS, access_token_ttl_s=TTL_S)
    login = p.device_login("alice")

    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, app: Any) -> None:
        r = await tcp.post("/v1/credentials", json={"refresh_token": login["refresh_token"]},
                           headers=bearer(login["access_token"]))
        assert r.status_code == 201, r.text
        body = {"id": r.json()["id"], "handle": r.json()["handle"]}
        rt = app.state.controller.credentials.sealer.open(
            stored(app)["refresh_sealed"], f"refresh {p.issuer} alice")
        r = await tcp.post("/v1/credentials/revoke", json={**body, "handle": "y" * 43})
        assert r.status_code == 401, r.text
        r = await tcp.post("/v1/credentials/revoke", json=body)
        assert r.status_code == 200, r.text
        conforms((await local.get("/openapi.json")).json(), "POST",
                 "/v1/credentials/revoke", r)
        assert stored(app)["state"] == "revoked"
        refused = httpx.post(p.token_endpoint(), data={
            "grant_type": "refresh_token", "client_id": CLIENT_ID, "resource": AUDIENCE,
            "refresh_token": rt})
        assert refused.status_code == 400, refused.text
    run(tmp_path, config(p), scenario)


def test_a_restarted_controller_keeps_renewing_the_credentials_it_kept(
        tmp_path: Path, make_provider: Any) -> None:
    """The sealed credential outlives the controller: a new one on the same store and
    key opens it, renews it (the rotated refresh token stored) and serves the client."""
    import os

    from corral.api.app import create_app

    p = make_provider(ACCOUNTS, access_token_ttl_s=TTL_S)
    login = p.device_login("alice")
    (tmp_path / "corral.toml").write_text(config(p))

    async def life(step: Any) -> Any:
        ctl = await start_controller(tmp_path)
        app = create_app(ctl)
        tcp = peer_client(app, None)
        try:
            return await step(tcp, app)
        finally:
            await tcp.aclose()
            await app.state.tokens.close()
            await ctl.stop()
            ctl.engine.dispose()

    async def hand_over(tcp: httpx.AsyncClient, app: Any) -> dict[str, Any]:
        r = await tcp.post("/v1/credentials", json={"refresh_token": login["refresh_token"]},
                           headers=bearer(login["access_token"]))
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def after_restart(tcp: httpx.AsyncClient, app: Any) -> None:
        assert list(app.state.controller.credentials.active) == [handed["id"]]
        before = stored(app)["refresh_sealed"]
        await asyncio.sleep(TTL_S - 2)  # the access token is near its end: renewed
        r = await tcp.post("/v1/credentials/token", json={
            "id": handed["id"], "handle": handed["handle"]})
        assert r.status_code == 200, r.text
        assert r.json()["access_token"] != handed["access_token"]
        assert claims_of(r.json()["access_token"])["exp"] > time.time()
        assert stored(app)["refresh_sealed"] != before

    handed = asyncio.run(life(hand_over))
    asyncio.run(life(after_restart))
    assert os.path.exists(tmp_path / "corral.db")
