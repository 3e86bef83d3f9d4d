"""No request can hurt the controller: bad numbers and names are 4xx with one line,
agent registrations are checked, a job the scheduler fails on is held and the others
go on, and an administrator can delete a node."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.api.app import create_app
from corral.config import load_config
from corral.model.job import Job, JobSpec
from corral.model.states import JobState
from corral.services.controller import Controller
from corral.store import jobs as store_jobs
from corral.store import nodes as store_nodes
from corral.store.db import make_engine, migrate
from tests.api.harness import peer_client
from tests.api.test_api import job
from tests.api.test_fuzz import _database

PLAIN_UID = 65534

CONFIG = ('[[partitions]]\nname = "main"\ndefault = true\nmax_time_s = "1:00:00"\n'
          '[[partitions]]\nname = "long"\n')  # no max_time_s


@dataclass
class Site:
    ctl: Controller
    user: httpx.AsyncClient  # a plain user over the socket
    admin: httpx.AsyncClient  # the controller's own uid: an administrator, and agents

    async def call(self, client: httpx.AsyncClient, method: str, path: str,
                   body: Any = None) -> httpx.Response:
        content = json.dumps(body, allow_nan=True) if body is not None else None
        return await client.request(method, path, content=content,
                                    headers={"content-type": "application/json"})

    async def launches(self, node: str = "n1", boot: str = "b1") -> list[int]:
        """The launch orders the node gets, polling until some come (at most ~10 s:
        a pause of the whole process, such as a full garbage collection, can delay
        the scheduling pass past one poll's wait)."""
        for _ in range(20):
            r = await self.admin.post("/agent/v1/poll", json={
                "node": node, "boot_id": boot, "running": [], "wait_s": 0.5})
            assert r.status_code == 200, r.text
            launched = [o["job_id"] for o in r.json()["orders"] if o["kind"] == "launch"]
            if launched:
                return launched
        return []


@contextlib.asynccontextmanager
async def site(tmp_path: Path, before_start: Any = None,
               database: str | None = None) -> AsyncIterator[Site]:
    (tmp_path / "corral.toml").write_text(
        (f'[controller]\ndatabase = "{database}"\n' if database else "") + CONFIG)
    cfg = load_config(str(tmp_path))
    engine = make_engine(cfg.database_url)
    migrate(engine)
    if before_start is not None:
        with engine.begin() as conn:
            before_start(conn)
    ctl = Controller(cfg, engine)
    await ctl.start()
    app = create_app(ctl)

    def client(uid: int) -> httpx.AsyncClient:
        return peer_client(app, uid)
    s = Site(ctl, client(PLAIN_UID), client(os.getuid()))
    r = await s.admin.post("/agent/v1/register", json={
        "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b1"})
    assert r.status_code == 200, r.text
    try:
        yield s
    finally:
        await s.user.aclose()
        await s.admin.aclose()
        await ctl.stop()
        engine.dispose()


def one_line_4xx(r: httpx.Response, *words: str) -> str:
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    message = r.json()["message"]
    assert isinstance(message, str) and "\n" not in message and len(message) < 400, message
    for w in words:
        assert w in message, (w, message)
    return message


def test_bad_numbers_and_names_from_a_plain_user_are_4xx(tmp_path: Path) -> None:
    async def main() -> None:
        async with site(tmp_path) as s:
            cases: list[tuple[dict[str, Any], tuple[str, ...]]] = [
                (job(partition="long", time_limit_s=2**63),
                 ("time_limit_s", "9223372036854775808", "maximum of 2147483647")),
                (job(priority=10**400), ("priority", "maximum of 4294967295")),
                (job(nice=-10001), ("nice", "-10001", "minimum of -10000")),
                (job(name="a\x00b"), ("name", "U+0000")),
                (job(name="tab\there"), ("name", "U+0009")),
                (job(dependency="afterok:" + "9" * 25), ("dependency", "maximum of 2147483647")),
                (job(dependency=f"afterok:{2**63}"), ("dependency", "maximum")),
                (job(t_begin=float("nan")), ("t_begin", "finite")),
                (job(t_begin=float("inf")), ("t_begin", "finite")),
                (job(mem_mb_per_node=2**40), ("mem_mb_per_node", "maximum")),
                (job(cpus_per_node=5_500_000_000), ("cpus_per_node", "maximum of 100000")),
                (job(working_dir="/tmp\x00x"), ("working_dir", "U+0000")),
                (job(environment={"A": "\ud800"}), ("environment", "U+D800")),
                (job(array="0-3%" + "9" * 5000), ("array", "throttle")),
                (job(array="0-3%²"), ("array", "throttle")),
                (job(features=["gpu", "x\x07"]), ("features", "U+0007")),
            ]
            for body, words in cases:
                one_line_4xx(await s.call(s.user, "POST", "/v1/jobs", body), *words)
            r = await s.user.get("/v1/jobs", params={"history": "true"})
            assert r.json()["jobs"] == [], "a refused request stored nothing"
            # ids out of range, in paths and queries
            for path in (f"/v1/jobs/{2**63}", f"/v1/jobs/{2**63}/events",
                         f"/v1/jobs/{2**31}/explain", "/v1/jobs/0"):
                one_line_4xx(await s.user.get(path), "job_id")
            one_line_4xx(await s.user.post(f"/v1/jobs/{2**63}/requeue"), "job_id")
            one_line_4xx(await s.user.get("/v1/jobs", params={"id": str(2**63),
                                                              "history": "true"}), "id")
            one_line_4xx(await s.user.get("/v1/jobs", params={"user": "a\x00",
                                                              "history": "true"}), "U+0000")
            # and the scheduler still starts a good job
            r = await s.user.post("/v1/jobs", json=job(hold=False))
            assert r.status_code == 201, r.text
            good = r.json()["id"]
            assert good in await s.launches()
    asyncio.run(main())


def test_patch_with_null_or_out_of_range_fields(tmp_path: Path) -> None:
    async def main() -> None:
        async with site(tmp_path) as s:
            job_id = (await s.user.post("/v1/jobs", json=job())).json()["id"]
            for field in ("name", "nice", "cpus_per_node"):
                one_line_4xx(await s.user.patch(f"/v1/jobs/{job_id}", json={field: None}),
                             field, "null")
            one_line_4xx(await s.user.patch(f"/v1/jobs/{job_id}",
                                            json={"time_limit_s": 2**63}), "time_limit_s")
            one_line_4xx(await s.call(s.user, "PATCH", f"/v1/jobs/{job_id}",
                                      {"t_begin": float("inf")}), "t_begin")
            # null resets an optional field to its default
            r = await s.user.patch(f"/v1/jobs/{job_id}", json={"t_begin": None,
                                                               "account": None})
            assert r.status_code == 200, r.text
    asyncio.run(main())


def test_a_plain_user_cannot_lift_a_time_limit_to_unlimited(tmp_path: Path) -> None:
    async def main() -> None:
        async with site(tmp_path) as s:
            job_id = (await s.user.post("/v1/jobs", json=job(
                partition="long", time_limit_s=60))).json()["id"]
            r = await s.user.patch(f"/v1/jobs/{job_id}", json={"time_limit_s": None})
            one_line_4xx(r, "time_limit_s: raise it above 00:01:00: needs operator")
            r = await s.admin.patch(f"/v1/jobs/{job_id}", json={"time_limit_s": None})
            assert r.status_code == 200 and r.json()["time_limit_s"] == 0
    asyncio.run(main())


def test_agent_registrations_and_reports_are_checked(tmp_path: Path) -> None:
    async def main() -> None:
        async with site(tmp_path) as s:
            bad = [
                ({"node": "big", "cpus": 4, "mem_mb": 10**20}, ("mem_mb", "maximum")),
                ({"node": "big", "cpus": 4, "mem_mb": 2**63}, ("mem_mb",)),
                ({"node": "big", "cpus": 5.5e9, "mem_mb": 100}, ("cpus", "maximum of 100000")),
                ({"node": "", "cpus": 1, "mem_mb": 1}, ("node", "empty")),
                ({"node": "a\x01b", "cpus": 1, "mem_mb": 1}, ("node", "U+0001")),
                ({"node": "a b", "cpus": 1, "mem_mb": 1}, ("node", "host name")),
                ({"node": "ok", "cpus": 1, "mem_mb": 1, "features": ["\x00"]}, ("features",)),
                ({"node": "ok", "cpus": 1, "mem_mb": 1, "running": [
                    {"job_id": 1, "rss_mb": float("inf")}]}, ("rss_mb", "finite")),
            ]
            for body, words in bad:
                one_line_4xx(await s.call(s.admin, "POST", "/agent/v1/register", body), *words)
            names = [n["name"] for n in (await s.admin.get("/v1/nodes")).json()["nodes"]]
            assert names == ["n1"]
            stored = await s.ctl.writer.read(store_nodes.load_nodes)
            assert [n.name for n in stored] == ["n1"]
            job_id = (await s.user.post("/v1/jobs", json=job(hold=False))).json()["id"]
            assert job_id in await s.launches()
            for report, words in [
                ({"job_id": job_id, "state": "RUNNING"}, ("state",)),
                ({"job_id": job_id, "state": "COMPLETED", "cpu_time_s": "abc"}, ("cpu_time_s",)),
                ({"job_id": job_id, "state": "COMPLETED", "exit_code": 2**40}, ("exit_code",)),
                ({"job_id": 2**63, "state": "COMPLETED"}, ("job_id",)),
            ]:
                r = await s.call(s.admin, "POST", "/agent/v1/report",
                                 {"node": "n1", "reports": [report]})
                one_line_4xx(r, *words)
            assert (await s.user.get(f"/v1/jobs/{job_id}")).json()["state"] == "RUNNING"
    asyncio.run(main())


def _stored_bad_job(conn: Any) -> None:
    """A held job and a pending one as an older controller let them be stored:
    an administrator's priority of 10**400, which no float can hold."""
    for hold in (True, False):
        spec = JobSpec(name="bad", working_dir="/tmp", argv=("true",), priority=10**400,
                       hold=hold)
        store_jobs.insert_jobs(conn, [Job(
            id=0, spec=spec, user="nobody", uid=PLAIN_UID, gid=PLAIN_UID,
            state=JobState.HELD if hold else JobState.PENDING, t_submit=time.time(),
            partition="main", time_limit_s=60, mem_mb_per_node=None)])


def test_a_job_the_scheduler_fails_on_is_held_and_the_others_start(tmp_path: Path) -> None:
    async def main() -> None:
        async with site(tmp_path, before_start=_stored_bad_job) as s:
            r = await s.admin.post("/v1/jobs", json=job(hold=False, name="good"))
            good = r.json()["id"]
            assert good in await s.launches()
            # a held job is not looked at by passes: it fails once released
            j = (await s.user.get("/v1/jobs/1")).json()
            assert j["state"] == "HELD" and j["reason"] == "None", j
            r = await s.admin.post("/v1/jobs/1/release")
            assert r.status_code == 200, r.text
            for _ in range(40):
                j = (await s.user.get("/v1/jobs/1")).json()
                if j["state"] == "HELD":
                    break
                await asyncio.sleep(0.05)
            for bad in (1, 2):
                j = (await s.user.get(f"/v1/jobs/{bad}")).json()
                assert j["state"] == "HELD", j
                assert j["reason"].startswith("SchedulingFailed: OverflowError"), j
            lines = (await s.user.get("/v1/jobs/2/explain")).json()["explanation"]
            assert "the scheduler failed on it" in lines[0], lines
            events = (await s.user.get("/v1/jobs/2/events")).json()["events"]
            assert events[-1]["kind"] == "hold" and "OverflowError" in events[-1]["data"]["error"]
            passes = s.ctl.scheduler.passes
            await s.user.post("/v1/jobs", json=job(hold=False, name="later"))
            await asyncio.sleep(0.5)
            assert s.ctl.scheduler.passes > passes  # passes go on (the held ones left out)
            stored = await s.ctl.writer.read(lambda c: store_jobs.get_job(c, 2))
            assert stored.state == JobState.HELD and stored.reason.startswith("SchedulingFailed")
    asyncio.run(main())


def test_an_administrator_deletes_a_node(tmp_path: Path) -> None:
    async def main() -> None:
        async with site(tmp_path) as s:
            r = await s.admin.post("/agent/v1/register", json={
                "node": "n2", "cpus": 1, "mem_mb": 100, "boot_id": "b2"})
            assert r.status_code == 200
            one_line_4xx(await s.user.delete("/v1/nodes/n2"), "delete node n2: needs administrator")
            one_line_4xx(await s.admin.delete("/v1/nodes/nosuch"), "no such node")
            job_id = (await s.admin.post("/v1/jobs", json=job(
                hold=False, partition="long", nodes=2))).json()["id"]
            assert job_id in await s.launches()
            r = await s.admin.delete("/v1/nodes/n2")
            assert r.status_code == 409
            one_line_4xx(r, f"node n2: runs job(s) {job_id}", "down")
            s.ctl.nodes["n2"].reachable = False  # its agent is gone: the node is DOWN
            r = await s.admin.delete("/v1/nodes/n2")
            assert r.status_code == 200 and r.json() == {"deleted": "n2"}
            j = (await s.admin.get(f"/v1/jobs/{job_id}")).json()
            assert (j["state"], j["restarts"], j["node_list"]) == ("PENDING", 1, [])
            names = [n["name"] for n in (await s.admin.get("/v1/nodes")).json()["nodes"]]
            assert names == ["n1"]
            n1 = (await s.admin.get("/v1/nodes")).json()["nodes"][0]
            assert n1["cpus_used"] == 0 and n1["jobs"] == []  # n1's share given back
            stored = await s.ctl.writer.read(store_nodes.load_nodes)
            assert [n.name for n in stored] == ["n1"]
            # an idle node goes at once
            await s.admin.post(f"/v1/jobs/{job_id}/cancel")
            await s.admin.post("/agent/v1/register", json={
                "node": "n3", "cpus": 1, "mem_mb": 100, "boot_id": "b3"})
            assert (await s.admin.delete("/v1/nodes/n3")).status_code == 200
    asyncio.run(main())


@pytest.mark.pg
def test_a_nodes_own_messages_are_kept_storable(tmp_path: Path) -> None:
    """A health check's output with a NUL in it (PostgreSQL refuses NUL in text, and a
    refused write makes the controller exit): kept, the NUL replaced."""
    async def main(database: str | None) -> None:
        async with site(tmp_path, database=database) as s:
            r = await s.admin.post("/agent/v1/health", json={
                "node": "n1", "boot_id": "b1", "ok": False, "message": "disk\x00full"})
            assert r.status_code == 200, r.text
            assert r.json()["drain_reason"] == "disk\ufffdfull"
            stored = await s.ctl.writer.read(store_nodes.load_nodes)
            assert stored[0].drain_reason == "disk\ufffdfull"
    with _database("postgresql") as database:
        asyncio.run(main(database))
