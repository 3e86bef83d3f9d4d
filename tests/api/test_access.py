"""Authorization in-process: what user A, user B and an administrator may read and do.

The same rules over the real socket with real Unix users: tests/e2e/test_privacy.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from corral.api.app import create_app
from tests.api.harness import peer_client, register_n1, start_controller

UID_A, UID_B = 61001, 61002  # no such users: their names are their uids
SECRET_ENV = "S3CRET-ENV-VALUE"
SECRET_SCRIPT = "#!/bin/sh\necho S3CRET-SCRIPT-LINE\n"
SECRET_ARG = "--token=S3CRET-ARG"

Clients = dict[str, httpx.AsyncClient]
Scenario = Callable[[Clients], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, *, controller_toml: str = "") -> None:
    async def main() -> None:
        (tmp_path / "corral.toml").write_text(
            f"[controller]\n{controller_toml}\n"
            '[[partitions]]\nname = "main"\ndefault = true\nmax_time_s = "1:00:00"\n')
        ctl = await start_controller(tmp_path)
        app = create_app(ctl)
        clients = {who: peer_client(app, uid)
                   for who, uid in (("a", UID_A), ("b", UID_B), ("admin", os.getuid()))}
        await register_n1(clients["admin"])
        try:
            await scenario(clients)
        finally:
            for c in clients.values():
                await c.aclose()
            await ctl.stop()
            ctl.engine.dispose()
    asyncio.run(main())


def script_job(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "secretive", "working_dir": "/tmp", "hold": True,
                            "script": SECRET_SCRIPT, "environment": {"API_KEY": SECRET_ENV}}
    base.update(kw)
    return base


def command_job(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "cmd", "working_dir": "/tmp", "hold": True,
                            "argv": ["/bin/echo", SECRET_ARG], "environment": {"K": SECRET_ENV}}
    base.update(kw)
    return base


async def _reads(c: httpx.AsyncClient, job_id: int) -> dict[str, httpx.Response]:
    """Every route that shows something of one job."""
    return {
        "show": await c.get(f"/v1/jobs/{job_id}"),
        "wait": await c.get(f"/v1/jobs/{job_id}/wait", params={"timeout_s": 0}),
        "events": await c.get(f"/v1/jobs/{job_id}/events"),
        "explain": await c.get(f"/v1/jobs/{job_id}/explain"),
        "list": await c.get("/v1/jobs"),
        "history": await c.get("/v1/jobs", params={"history": "true"}),
    }


def _leaks(r: httpx.Response) -> bool:
    return any(s in r.text for s in (SECRET_ENV, "S3CRET-SCRIPT-LINE", "S3CRET-ARG"))


def test_scripts_environments_and_commands_are_their_owners(tmp_path: Path) -> None:
    async def scenario(c: Clients) -> None:
        ids = []
        for body in (script_job(), command_job()):
            r = await c["a"].post("/v1/jobs", json=body)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        for job_id in ids:
            for who in ("a", "admin"):
                for route, r in (await _reads(c[who], job_id)).items():
                    assert r.status_code == 200, (who, route, r.text)
                    if route != "explain":
                        assert _leaks(r), (who, route)  # the owner and admins read it all
            for route, r in (await _reads(c["b"], job_id)).items():
                assert r.status_code == 200, (route, r.text)
                assert not _leaks(r), (route, r.text)
            shown = (await c["b"].get(f"/v1/jobs/{job_id}")).json()
            assert shown["user"] == str(UID_A) and shown["name"] in ("secretive", "cmd")
            assert shown["withheld"] == ["script", "environment", "argv", "jdl"]
            assert shown["working_dir"] == "/tmp"  # public, as Slurm's WorkDir
            assert shown["spec"]["environment"] == {} and shown["spec"]["argv"] == []
        # a withheld script is still a script: "" (a command job's stays null)
        assert (await c["b"].get(f"/v1/jobs/{ids[0]}")).json()["spec"]["script"] == ""
        assert (await c["b"].get(f"/v1/jobs/{ids[1]}")).json()["spec"]["script"] is None
        listed = (await c["b"].get("/v1/jobs")).json()["jobs"]
        assert sorted(j["id"] for j in listed) == ids  # listings show others' jobs
    run(tmp_path, scenario)


def test_private_data_jobs_hides_other_users_jobs(tmp_path: Path) -> None:
    async def scenario(c: Clients) -> None:
        mine = (await c["a"].post("/v1/jobs", json=script_job())).json()["id"]
        theirs = (await c["b"].post("/v1/jobs", json=command_job())).json()["id"]
        for route, r in (await _reads(c["b"], mine)).items():
            if route in ("list", "history"):
                assert [j["id"] for j in r.json()["jobs"]] == [theirs], route
            else:
                assert r.status_code == 404, (route, r.text)
                assert r.json()["message"] == f"job {mine}: no such job"
        for action in ("cancel", "hold", "release", "requeue"):
            r = await c["b"].post(f"/v1/jobs/{mine}/{action}")
            assert r.status_code == 404, (action, r.text)
        r = await c["b"].get("/v1/jobs", params={"history": "true", "user": str(UID_A)})
        assert r.json()["jobs"] == []
        r = await c["admin"].get("/v1/jobs", params={"history": "true"})
        assert sorted(j["id"] for j in r.json()["jobs"]) == [mine, theirs]
        for route, r in (await _reads(c["a"], mine)).items():
            assert r.status_code == 200, route
    run(tmp_path, scenario, controller_toml='private_data = ["jobs"]')


def test_privileged_fields_are_refused_to_plain_users(tmp_path: Path) -> None:
    async def scenario(c: Clients) -> None:
        a, admin = c["a"], c["admin"]
        refusals = [
            (await a.post("/v1/jobs", json=script_job(priority=100)),
             "priority: set a fixed priority (got 100): needs operator"),
            (await a.post("/v1/jobs", json=script_job(nice=-5)),
             "nice: set a negative nice (got -5"),
        ]
        job_id = (await a.post("/v1/jobs", json=script_job(nice=10))).json()["id"]
        refusals += [  # a submit's estimate is refused as the submit would be
            (await a.post("/v1/jobs/estimate", json=script_job(priority=100)),
             "priority: set a fixed priority (got 100): needs operator"),
            (await a.post("/v1/jobs/estimate", json=script_job(nice=-1)),
             "nice: set a negative nice (got -1"),
        ]
        refusals += [
            (await a.patch(f"/v1/jobs/{job_id}", json={"priority": 5}),
             "priority: set a fixed priority (got 5): needs operator"),
            (await a.patch(f"/v1/jobs/{job_id}", json={"nice": -10000}),
             "nice: set a negative nice (got -10000"),
            (await a.post("/v1/nodes/n1/drain", json={"reason": "mine"}),
             "drain node n1: needs operator"),
            (await a.post("/v1/nodes/n1/resume"),
             "resume node n1: needs operator"),
            (await a.post("/v1/reservations", json={
                "name": "r1", "nodes": ["n1"], "t_start": time.time() + 60,
                "t_end": time.time() + 120}),
             "create reservation r1: needs administrator"),
            (await c["b"].patch(f"/v1/jobs/{job_id}", json={"name": "x"}),
             f"update job {job_id} of {UID_A}: needs operator"),
        ]
        for r, message in refusals:
            assert r.status_code == 403, r.text
            assert r.json()["message"].startswith(message), r.json()
            assert "\n" not in r.json()["message"]
        # what a plain user may do: a nice of 0 or more on their own job
        r = await a.patch(f"/v1/jobs/{job_id}", json={"nice": 0})
        assert r.status_code == 200 and r.json()["spec"]["nice"] == 0
        # an administrator may do it all, on anyone's job
        r = await admin.patch(f"/v1/jobs/{job_id}", json={"priority": 7, "nice": -3})
        assert r.status_code == 200, r.text
        assert (r.json()["spec"]["priority"], r.json()["spec"]["nice"]) == (7, -3)
        r = await admin.post("/v1/jobs", json=script_job(priority=9, nice=-1))
        assert r.status_code == 201, r.text
        assert (await admin.post("/v1/nodes/n1/drain", json={"reason": "m"})).status_code \
            == 200
        r = await admin.post("/v1/reservations", json={
            "name": "r1", "nodes": ["n1"], "t_start": time.time() + 60,
            "t_end": time.time() + 120})
        assert r.status_code == 201, r.text
        # nothing refused was stored
        r = await admin.get("/v1/jobs", params={"history": "true"})
        assert len(r.json()["jobs"]) == 2
    run(tmp_path, scenario)


def test_an_arrays_pending_rest_is_guarded_the_same(tmp_path: Path) -> None:
    async def scenario(c: Clients) -> None:
        r = await c["a"].post("/v1/jobs", json=script_job(array="0-99"))
        assert r.status_code == 201, r.text
        array_id, task = r.json()["id"], r.json()["ids"][7]
        for who, leaks in (("b", False), ("a", True), ("admin", True)):
            listed = await c[who].get("/v1/jobs")
            assert [j["display_id"] for j in listed.json()["jobs"]] == [f"{array_id}_[0-99]"]
            assert _leaks(listed) is leaks, who
            shown = await c[who].get(f"/v1/jobs/{task}")
            assert shown.status_code == 200 and _leaks(shown) is leaks, (who, shown.text)
        b = c["b"]
        for method, path, body in (("post", f"/v1/jobs/{array_id}/cancel?array=true", None),
                                   ("post", f"/v1/jobs/{array_id}/hold?array=true", None),
                                   ("patch", f"/v1/jobs/{array_id}?array=true", {"name": "x"})):
            r = await b.request(method.upper(), path, json=body)
            assert r.status_code == 403, (path, r.text)
            action = path.split("/")[-1].split("?")[0] if method == "post" else "update"
            assert r.json()["message"] == f"{action} job {array_id} of {UID_A}: needs operator"
        r = await c["a"].patch(f"/v1/jobs/{array_id}?array=true", json={"priority": 3})
        assert r.status_code == 403
        assert r.json()["message"] == "priority: set a fixed priority (got 3): needs operator"
        r = await c["a"].patch(f"/v1/jobs/{array_id}?array=true", json={"nice": -1})
        assert r.status_code == 403
        r = await c["admin"].patch(f"/v1/jobs/{array_id}?array=true", json={"priority": 3})
        assert r.status_code == 200, r.text
    run(tmp_path, scenario)


def test_private_data_jobs_hides_other_users_arrays(tmp_path: Path) -> None:
    async def scenario(c: Clients) -> None:
        r = await c["a"].post("/v1/jobs", json=script_job(array="0-9"))
        array_id, task = r.json()["id"], r.json()["ids"][3]
        assert (await c["b"].get("/v1/jobs")).json()["jobs"] == []
        r = await c["b"].get(f"/v1/jobs/{task}")
        assert r.status_code == 404
        r = await c["b"].post(f"/v1/jobs/{array_id}/cancel?array=true")
        assert r.status_code == 404, r.text
        assert len((await c["a"].get("/v1/jobs")).json()["jobs"]) == 1
    run(tmp_path, scenario, controller_toml='private_data = ["jobs"]')
