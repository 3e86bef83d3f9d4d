"""Associations through the REST API: administrators change them, submissions are held
to them once any exist (or as `[accounting] enforce_associations` says), the default
account applies, per-association limits refuse or hold jobs, and they survive a
controller restart."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.api.app import create_app
from corral.api.peercred import _WithPeer
from tests.api.harness import Ctx, run

UID = 61001  # no such user: their name is their uid
USER = str(UID)
CONFIG = """
[[partitions]]
name = "main"
default = true
max_time_s = "1-00:00:00"
default_time_s = "1:00:00"
"""


def _as(ctx: Ctx, uid: int) -> httpx.AsyncClient:
    app = _WithPeer(create_app(ctx.ctl), uid)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://corral")


def _job(**kw: Any) -> dict[str, Any]:
    return {"name": "t", "working_dir": "/tmp", "argv": ["true"], **kw}


async def _ok(r: httpx.Response, code: int = 200) -> dict[str, Any]:
    assert r.status_code == code, r.text
    return dict(r.json())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_associations_decide_who_may_charge_which_account(tmp_path: Path,
                                                          backend: str) -> None:
    async def scenario(ctx: Ctx) -> None:
        user = _as(ctx, UID)
        # none defined: any account is accepted, as before
        await _ok(await user.post("/v1/jobs", json=_job(account="anything", hold=True)), 201)
        # plain users change nothing
        r = await user.post("/v1/accounts", json={"name": "physics"})
        assert r.status_code == 403 and "needs administrator" in r.json()["message"], r.text
        await _ok(await ctx.user.post("/v1/accounts", json={
            "name": "physics", "shares": 40, "max_cpus": 2}), 201)
        await _ok(await ctx.user.post("/v1/accounts", json={"name": "chem"}), 201)
        await _ok(await ctx.user.post("/v1/users", json={
            "name": USER, "accounts": ["physics"], "max_wall_s": 600}), 201)
        # another account, or none, is now refused in one line
        r = await user.post("/v1/jobs", json=_job(account="chem"))
        assert r.status_code == 403, r.text
        assert r.json()["message"] == (f"account: user '{USER}' may not use account "
                                       "'chem' (may use: physics)")
        r = await user.post("/v1/jobs", json=_job(account="nosuch"))
        assert r.status_code == 403 and "no account named 'nosuch'" in r.json()["message"]
        # the default account applies; the association's MaxWall caps the partition's
        job_id = (await _ok(await user.post("/v1/jobs", json=_job(hold=True)), 201))["id"]
        job = await ctx.job(job_id)
        assert job["spec"]["account"] == "physics", job
        r = await user.post("/v1/jobs", json=_job(time_limit_s=3600))
        assert r.status_code == 422 and "MaxWall" in r.json()["message"], r.text
        # the account's limit is inherited by its user's association
        r = await user.post("/v1/jobs", json=_job(cpus_per_node=3))
        assert r.status_code == 422, r.text
        assert r.json()["message"] == (f"cpus: asks 3 CPUs; association {USER}/physics "
                                       "allows 2 per job (MaxTRES cpu)")
        # a plain user sees their own association, not others'
        await _ok(await ctx.user.post("/v1/users", json={"name": "other",
                                                         "accounts": ["chem"]}), 201)
        seen = await _ok(await user.get("/v1/accounts"))
        assert [(a["user"], a["account"]) for a in seen["associations"]] == [(USER, "physics")]
        everything = await _ok(await ctx.user.get("/v1/accounts"))
        assert len(everything["associations"]) == 2
        assert [a["name"] for a in everything["accounts"]] == ["root", "chem", "physics"]
        # kept in the store
        await ctx.restart()
        r = await _as(ctx, UID).post("/v1/jobs", json=_job(account="chem"))
        assert r.status_code == 403, r.text
        await user.aclose()
    run(tmp_path, CONFIG, {"n1": {"cpus": 4}}, scenario, backend=backend)


def test_max_jobs_holds_the_associations_extra_jobs(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        user = _as(ctx, UID)
        await _ok(await ctx.user.post("/v1/accounts", json={"name": "physics"}), 201)
        await _ok(await ctx.user.post("/v1/users", json={
            "name": USER, "accounts": ["physics"], "max_jobs": 1}), 201)
        first = (await _ok(await user.post("/v1/jobs", json=_job()), 201))["id"]
        second = (await _ok(await user.post("/v1/jobs", json=_job()), 201))["id"]
        assert [la["job_id"] for la in await ctx.launches("n1")] == [first]
        for _ in range(50):
            job = await ctx.job(second)
            if job["reason"] == "AssocMaxJobsLimit":
                break
            await asyncio.sleep(0.05)
        assert job["state"] == "PENDING" and job["reason"] == "AssocMaxJobsLimit", job
        # lifting the limit lets it start
        await _ok(await ctx.user.patch(f"/v1/users/{USER}", json={"max_jobs": None}))
        assert [la["job_id"] for la in await ctx.launches("n1")] == [second]
        await user.aclose()
    run(tmp_path, CONFIG, {"n1": {"cpus": 4}}, scenario)


def test_enforcement_can_be_turned_off(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        user = _as(ctx, UID)
        await _ok(await ctx.user.post("/v1/accounts", json={"name": "physics"}), 201)
        await _ok(await ctx.user.post("/v1/users", json={"name": USER,
                                                         "accounts": ["physics"]}), 201)
        job_id = (await _ok(await user.post("/v1/jobs", json=_job(account="elsewhere",
                                                                  hold=True)), 201))["id"]
        assert (await ctx.job(job_id))["spec"]["account"] == "elsewhere"
        job_id = (await _ok(await user.post("/v1/jobs", json=_job(hold=True)), 201))["id"]
        assert (await ctx.job(job_id))["spec"]["account"] == "physics"  # still the default
        await user.aclose()
    run(tmp_path, CONFIG + "\n[accounting]\nenforce_associations = false\n",
        {"n1": {}}, scenario)


def test_enforced_without_associations_every_user_needs_one(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        user = _as(ctx, UID)
        r = await user.post("/v1/jobs", json=_job(account="physics"))
        assert r.status_code == 403, r.text
        assert r.json()["message"] == (
            f"account: user '{USER}' has no account association (an administrator adds "
            f"one: sacctmgr add user {USER} account=NAME)")
        # administrators submitting for themselves are not held to it
        await _ok(await ctx.user.post("/v1/jobs", json=_job(account="any", hold=True)), 201)
        await user.aclose()
    run(tmp_path, CONFIG + "\n[accounting]\nenforce_associations = true\n", {"n1": {}},
        scenario)


def test_changes_are_checked_in_one_line(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        cases = [
            ("post", "/v1/accounts", {"name": "a", "parent": "nosuch"}, 404,
             "parent: no account named 'nosuch'"),
            ("post", "/v1/users", {"name": "u", "accounts": ["nosuch"]}, 404,
             "account: no account named 'nosuch'"),
            ("delete", "/v1/accounts/root", None, 400,
             "account: the root account cannot be deleted"),
            ("post", "/v1/accounts", {"name": "a", "qos": ["gold"]}, 404,
             "qos: no QOS named 'gold' (have: none)"),
        ]
        for method, path, body, code, message in cases:
            kw = {"json": body} if body is not None else {}
            r = await ctx.user.request(method.upper(), path, **kw)
            assert (r.status_code, r.json()["message"]) == (code, message), r.text
        await _ok(await ctx.user.post("/v1/accounts", json={"name": "a"}), 201)
        await _ok(await ctx.user.post("/v1/accounts", json={"name": "b", "parent": "a"}), 201)
        r = await ctx.user.patch("/v1/accounts/a", json={"parent": "b"})
        assert (r.status_code, r.json()["message"]) == (
            400, "parent: 'b' is 'a' or below it"), r.text
        r = await ctx.user.delete("/v1/accounts/a")
        assert r.status_code == 409 and "has sub-accounts (b)" in r.json()["message"]
    run(tmp_path, CONFIG, {}, scenario)
