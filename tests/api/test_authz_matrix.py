"""The authorization matrix over REST: each role x every state-changing action, on the
caller's own job and on another user's. The expected table is written out here (not
derived from services/authz.py); a refused request must change nothing, and every
request — done or refused — must be in the audit trail with its real actor.

The drop-in commands, as real Unix users over the socket: tests/e2e/test_roles.py.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.api.app import create_app
from tests.api.harness import Ctx, peer_client, register, run

UID_A, UID_B, UID_OP = 61011, 61012, 61013  # no such users: their names are their uids
CONFIG = f"""
[roles]
operators = ["{UID_OP}"]

[[partitions]]
name = "main"
default = true
max_time_s = "1:00:00"
"""
OTHER_USER = pwd.getpwuid(65534).pw_name if 65534 in {p.pw_uid for p in pwd.getpwall()} \
    else None

U, OP, A = "user", "operator", "administrator"
EVERYONE, STAFF, ADMINS = {U, OP, A}, {OP, A}, {A}

# (action, whose job: "own", "other" or "-" for none) -> the roles it is allowed to
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("submit", "own"): EVERYONE,
    ("submit_batch", "own"): EVERYONE,
    ("submit as another user", "other"): ADMINS,
    ("submit with a fixed priority", "own"): STAFF,
    ("cancel", "own"): EVERYONE, ("cancel", "other"): STAFF,
    ("signal", "own"): EVERYONE, ("signal", "other"): STAFF,
    ("hold", "own"): EVERYONE, ("hold", "other"): STAFF,
    ("release", "own"): EVERYONE, ("release", "other"): STAFF,
    ("requeue", "own"): EVERYONE, ("requeue", "other"): STAFF,
    ("update", "own"): EVERYONE, ("update", "other"): STAFF,
    ("update priority", "own"): STAFF, ("update priority", "other"): STAFF,
    ("raise time limit", "own"): STAFF, ("raise time limit", "other"): STAFF,
    ("cancel array", "own"): EVERYONE, ("cancel array", "other"): STAFF,
    ("hold array", "own"): EVERYONE, ("hold array", "other"): STAFF,
    ("update array", "own"): EVERYONE, ("update array", "other"): STAFF,
    ("step", "own"): EVERYONE, ("step", "other"): ADMINS,
    ("end allocation", "own"): EVERYONE, ("end allocation", "other"): ADMINS,
    ("drain", "-"): STAFF,
    ("resume", "-"): STAFF,
    ("delete node", "-"): ADMINS,
    ("create reservation", "-"): ADMINS,
    ("delete reservation", "-"): ADMINS,
}
# the audit trail's name of each action
AUDIT_ACTION = {"submit as another user": "submit", "submit with a fixed priority": "submit",
                "update priority": "update", "raise time limit": "update",
                "cancel array": "cancel", "hold array": "hold", "update array": "update",
                "end allocation": "end", "delete node": "delete_node",
                "create reservation": "create_reservation",
                "delete reservation": "delete_reservation"}


@dataclass
class Cell:
    role: str
    action: str
    whose: str
    status: int = 0
    message: str = ""
    job_id: int | None = None


def _client(ctx: Ctx, uid: int) -> httpx.AsyncClient:
    return peer_client(create_app(ctx.ctl), uid)


def _job(**kw: Any) -> dict[str, Any]:
    # not before an hour from now: pending, never started by the scheduler
    return {"name": "m", "working_dir": "/tmp", "argv": ["true"],
            "t_begin": time.time() + 3600, "time_limit_s": 60, **kw}


@pytest.mark.parametrize("role", [U, OP, A])
def test_each_role_may_do_what_the_table_says_and_nothing_more(
        tmp_path: Path, role: str) -> None:
    actor_uid = {U: UID_A, OP: UID_OP, A: os.getuid()}[role]
    victim_uid = UID_B if role == U else UID_A

    async def scenario(ctx: Ctx) -> None:
        actor, victim = _client(ctx, actor_uid), _client(ctx, victim_uid)
        admin = ctx.user
        cells: list[Cell] = []

        async def job_of(c: httpx.AsyncClient, **kw: Any) -> int:
            r = await c.post("/v1/jobs", json=_job(**kw))
            assert r.status_code == 201, r.text
            return int(r.json()["id"])

        async def running_job_of(c: httpx.AsyncClient, **kw: Any) -> int:
            job_id = await job_of(c, t_begin=None, **kw)
            launched = [la["job_id"] for la in await ctx.launches("n1")]
            assert job_id in launched
            return job_id

        async def snapshot(job_id: int | None) -> Any:
            if job_id is None:
                return (await admin.get("/v1/nodes")).json(), \
                    (await admin.get("/v1/reservations")).json()
            j = (await admin.get(f"/v1/jobs/{job_id}")).json()
            # (not the computed priority nor the reason: the scheduler's)
            return {k: j[k] for k in ("state", "name", "time_limit_s", "spec")}, \
                (await admin.get(f"/v1/jobs/{job_id}/events")).json()

        async def cell(action: str, whose: str, setup: Callable[[httpx.AsyncClient],
                                                                Awaitable[int | None]],
                       do: Callable[[int | None], Awaitable[httpx.Response]]) -> None:
            owner = actor if whose == "own" else victim
            job_id = await setup(owner)
            before = await snapshot(job_id)
            r = await do(job_id)
            c = Cell(role, action, whose, r.status_code, r.json().get("message", ""), job_id)
            if action.startswith("submit") and r.status_code == 201:
                c.job_id = r.json()["id"]
            cells.append(c)
            if r.status_code == 403:  # refused: nothing changed
                assert await snapshot(job_id) == before, (action, whose)
            else:
                assert r.status_code in (200, 201), (action, whose, r.text)

        async def nothing(_: httpx.AsyncClient) -> None:
            return None

        async def pending(c: httpx.AsyncClient) -> int:
            return await job_of(c)

        async def held(c: httpx.AsyncClient) -> int:
            return await job_of(c, hold=True)

        async def array(c: httpx.AsyncClient) -> int:
            return await job_of(c, array="0-9")

        async def finished(c: httpx.AsyncClient) -> int:
            job_id = await job_of(c)
            assert (await admin.post(f"/v1/jobs/{job_id}/cancel")).status_code == 200
            return job_id

        async def running(c: httpx.AsyncClient) -> int:
            return await running_job_of(c)

        async def allocation(c: httpx.AsyncClient) -> int:
            r = await c.post("/v1/jobs", json={**_job(interactive=True), "argv": []})
            assert r.status_code == 201, r.text
            return int(r.json()["id"])

        for whose in ("own",):
            await cell("submit", whose, nothing,
                       lambda _: actor.post("/v1/jobs", json=_job()))
            await cell("submit_batch", whose, nothing,
                       lambda _: actor.post("/v1/jobs:batch", json={"jobs": [_job()]}))
            await cell("submit with a fixed priority", whose, nothing,
                       lambda _: actor.post("/v1/jobs", json=_job(priority=7)))
        if OTHER_USER is not None:
            await cell("submit as another user", "other", nothing,
                       lambda _: actor.post("/v1/jobs", json=_job(user=OTHER_USER)))
        for whose in ("own", "other"):
            await cell("cancel", whose, pending,
                       lambda j: actor.post(f"/v1/jobs/{j}/cancel"))
            await cell("signal", whose, running,
                       lambda j: actor.post(f"/v1/jobs/{j}/cancel", json={"signal": 10}))
            await cell("hold", whose, pending, lambda j: actor.post(f"/v1/jobs/{j}/hold"))
            await cell("release", whose, held, lambda j: actor.post(f"/v1/jobs/{j}/release"))
            await cell("requeue", whose, finished,
                       lambda j: actor.post(f"/v1/jobs/{j}/requeue", json={"hold": True}))
            await cell("update", whose, pending,
                       lambda j: actor.patch(f"/v1/jobs/{j}", json={"name": "renamed"}))
            await cell("update priority", whose, pending,
                       lambda j: actor.patch(f"/v1/jobs/{j}", json={"priority": 9}))
            await cell("raise time limit", whose, pending,
                       lambda j: actor.patch(f"/v1/jobs/{j}", json={"time_limit_s": 120}))
            await cell("cancel array", whose, array,
                       lambda j: actor.post(f"/v1/jobs/{j}/cancel?array=true"))
            await cell("hold array", whose, array,
                       lambda j: actor.post(f"/v1/jobs/{j}/hold?array=true"))
            await cell("update array", whose, array,
                       lambda j: actor.patch(f"/v1/jobs/{j}?array=true", json={"name": "x"}))
            await cell("step", whose, running, lambda j: actor.post(
                f"/v1/jobs/{j}/steps", json={"argv": ["true"], "working_dir": "/tmp", "io_port": 9,
                                        "io_key": "k" * 16}))
            await cell("end allocation", whose, allocation,
                       lambda j: actor.post(f"/v1/jobs/{j}/end", json={"exit_code": 0}))
        await cell("drain", "-", nothing,
                   lambda _: actor.post("/v1/nodes/n1/drain", json={"reason": "check"}))
        await cell("resume", "-", nothing, lambda _: actor.post("/v1/nodes/n1/resume"))
        await register(ctx, "spare")
        await cell("delete node", "-", nothing, lambda _: actor.delete("/v1/nodes/spare"))
        await cell("create reservation", "-", nothing, lambda _: actor.post(
            "/v1/reservations", json={"name": "mine", "nodes": ["n1"],
                                      "t_start": time.time() + 7200,
                                      "t_end": time.time() + 9000}))
        r = await admin.post("/v1/reservations", json={
            "name": "theirs", "nodes": ["n1"], "t_start": time.time() + 9600,
            "t_end": time.time() + 9900})
        assert r.status_code == 201, r.text
        await cell("delete reservation", "-", nothing,
                   lambda _: actor.delete("/v1/reservations/theirs"))

        # the matrix: every cell as the table says
        got = {(c.action, c.whose): c.status != 403 for c in cells}
        want = {k: role in v for k, v in EXPECTED.items()
                if k in got or k[0] != "submit as another user"}
        assert got == want
        for c in cells:  # a refusal names the role it needs
            if c.status == 403:
                assert c.message.endswith(("needs operator", "needs administrator")), c
                assert "\n" not in c.message

        # the audit trail has each request with its real actor and result
        r = await admin.get("/v1/audit", params={"user": str(actor_uid) if role != A
                                                 else pwd.getpwuid(actor_uid).pw_name})
        assert r.status_code == 200, r.text
        entries = r.json()["entries"]
        actor_name = pwd.getpwuid(actor_uid).pw_name if role == A else str(actor_uid)
        for c in cells:
            action = AUDIT_ACTION.get(c.action, c.action)
            hits = [e for e in entries if e["action"] == action
                    and (c.job_id is None or e["job_id"] == c.job_id)
                    and (e["result"] == "ok") == (c.status != 403)
                    and (c.status != 403 or e["result"] == c.message)]
            assert hits, (c, [e for e in entries if e["action"] == action])
            e = hits[-1]
            assert (e["user"], e["uid"], e["role"], e["origin"]) == (
                actor_name, actor_uid, role, "unix socket"), e
            assert e["status"] == c.status
        # /metrics counts them
        metrics = dict(line.rsplit(" ", 1) for line in
                       (await admin.get("/metrics")).text.splitlines()
                       if line.startswith("corral_audit_"))
        assert float(metrics["corral_audit_refused_total"]) == sum(
            c.status == 403 for c in cells)
        assert float(metrics["corral_audit_entries_total"]) > len(cells)
        # a user reads their own entries only; operators and administrators all
        mine = (await actor.get("/v1/audit")).json()["entries"]
        assert {e["uid"] for e in mine} == ({actor_uid} if role == U
                                            else {actor_uid, victim_uid, os.getuid()})
        r = await actor.get("/v1/audit", params={"user": str(victim_uid)})
        if role == U:
            assert r.status_code == 403
            assert r.json()["message"] == (f"read the audit entries of {victim_uid}: "
                                           "needs operator")
        else:
            assert r.status_code == 200 and r.json()["entries"]
        for c in (actor, victim):
            await c.aclose()

    run(tmp_path, CONFIG, {"n1": {"cpus": 64, "mem_mb": 64000}}, scenario)
