"""The audit trail and roles with tokens from a real OpenID provider: an operator by
its token's role claim acts on another user's job; the entries name the token's
subject and issuer and the peer's address; a request with no valid token is
recorded too, as anonymous and refused."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

import httpx

from tests.api.test_tokens import ACCOUNTS, JOB, auth_config, bearer, run


def test_token_callers_are_audited_with_subject_issuer_and_address(
        tmp_path: Path, make_provider: Any) -> None:
    p = make_provider(ACCOUNTS)
    alice = p.device_login("alice")["access_token"]  # an operator by its roles claim
    nobody = p.device_login("nobody")["access_token"]  # a plain user (the passwd's)
    me = pwd.getpwuid(os.getuid()).pw_name

    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, _: Any) -> None:
        held = [(await local.post("/v1/jobs", json=JOB)).json()["id"] for _ in range(2)]
        r = await tcp.post(f"/v1/jobs/{held[0]}/cancel", headers=bearer(nobody))
        assert r.status_code == 403
        assert r.json()["message"] == f"cancel job {held[0]} of {me}: needs operator"
        r = await tcp.post(f"/v1/jobs/{held[0]}/cancel", headers=bearer(alice))
        assert r.status_code == 200, r.text
        job = (await local.get(f"/v1/jobs/{held[0]}")).json()
        assert (job["state"], job["cancelled_by_uid"]) == ("CANCELLED", 4242)
        r = await tcp.post(f"/v1/jobs/{held[1]}/release")  # no token at all
        assert r.status_code == 401

        entries = (await local.get("/v1/audit", params={"job": held[0], "action": "cancel"})
                   ).json()["entries"]
        assert [(e["user"], e["role"], e["subject"], e["issuer"], e["result"])
                for e in entries] == [
            ("nobody", "user", "nobody", p.issuer, f"cancel job {held[0]} of {me}: "
                                                   "needs operator"),
            ("alice", "operator", "alice", p.issuer, "ok")]
        assert {e["origin"] for e in entries} == {"127.0.0.1:123"}  # httpx's ASGI peer
        assert entries[1]["uid"] == 4242 and entries[0]["uid"] == pwd.getpwnam("nobody").pw_uid
        [anon] = (await local.get("/v1/audit", params={"job": held[1],
                                                       "action": "release"})).json()["entries"]
        assert (anon["user"], anon["uid"], anon["status"]) == ("anonymous", None, 401)
        assert anon["result"].startswith("remote users need a token")
        # a plain user's token reads only its own entries
        r = await tcp.get("/v1/audit", headers=bearer(nobody))
        assert {e["user"] for e in r.json()["entries"]} == {"nobody"}
    run(tmp_path, auth_config(p), scenario)
