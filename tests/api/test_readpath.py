"""The read path as the controller process runs it: the controller on a loop of its
own (server.WriterLoop), the API on this test's loop through api/readpath.ReadPath.
Reads are answered from the published snapshot even while the writer's loop is
stuck, and a client always reads its own writes."""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from corral.api.app import create_app
from corral.api.peercred import _WithPeer
from corral.api.readpath import ReadPath
from corral.api.server import WriterLoop, _start
from corral.config import load_config
from corral.store.db import make_engine, migrate
from tests.api.harness import peer_client

CONFIG = '[[partitions]]\nname = "main"\ndefault = true\n'


@asynccontextmanager
async def served(tmp_path: Path, config: str = CONFIG
                 ) -> AsyncIterator[tuple[Callable[[int], httpx.AsyncClient], WriterLoop]]:
    """A controller on its own loop; clients (by uid) through the read path."""
    (tmp_path / "corral.toml").write_text(config)
    cfg = load_config(str(tmp_path))
    engine = make_engine(cfg.database_url)
    migrate(engine)
    writer = WriterLoop()
    ctl = await writer.run(_start(cfg, engine))
    app = ReadPath(create_app(ctl), ctl.publisher, writer.loop)
    clients: list[httpx.AsyncClient] = []

    def client(uid: int) -> httpx.AsyncClient:
        c = peer_client(app, uid, timeout=30)
        clients.append(c)
        return c
    try:
        r = await client(os.getuid()).post("/agent/v1/register", json={
            "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b1"})
        assert r.status_code == 200, r.text
        yield client, writer
    finally:
        for c in clients:
            await c.aclose()
        await writer.run(ctl.stop())
        writer.stop()
        engine.dispose()


def job(**kw: Any) -> dict[str, Any]:
    return {"name": "t", "working_dir": "/tmp", "argv": ["true"], "hold": True, **kw}


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def test_reads_are_answered_while_the_writers_loop_is_stuck(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as (client, writer):
            user = client(os.getuid())
            ids = [(await user.post("/v1/jobs", json=job(name=f"j{i}"))).json()["id"]
                   for i in range(20)]
            released = threading.Event()
            # the writer's loop does nothing else for up to 10 s (a long pass, a
            # slow commit): writes wait, reads do not
            writer.loop.call_soon_threadsafe(released.wait, 10.0)
            submit = asyncio.create_task(user.post("/v1/jobs", json=job(name="late")))
            try:
                t0 = time.monotonic()
                listed = (await user.get("/v1/jobs")).json()["jobs"]
                shown = await user.get(f"/v1/jobs/{ids[3]}")
                filtered = (await user.get("/v1/jobs", params={"name": "j7"})).json()
                metrics = await user.get("/metrics")
                took_s = time.monotonic() - t0
                assert [j["id"] for j in listed] == ids
                assert shown.status_code == 200 and shown.json()["name"] == "j3"
                assert [j["id"] for j in filtered["jobs"]] == [ids[7]]
                assert 'corral_jobs{state="HELD"} 20.0' in metrics.text
                assert took_s < 2.0, took_s
                await asyncio.sleep(0.2)
                assert not submit.done()  # the write waits for the writer's loop
            finally:
                released.set()
            late = (await submit).json()["id"]
            # answered: the very next read sees it
            assert (await user.get(f"/v1/jobs/{late}")).json()["name"] == "late"
    run(scenario)


def test_many_readers_while_submitting_miss_no_write(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as (client, _):
            user = client(os.getuid())
            misses: list[str] = []
            stop = asyncio.Event()
            polls = [0]

            async def submitter(k: int) -> None:
                for i in range(25):
                    name = f"s{k}-{i}"
                    r = await user.post("/v1/jobs", json=job(name=name))
                    assert r.status_code == 201, r.text
                    job_id = r.json()["id"]
                    listed = (await user.get("/v1/jobs", params={"name": name})).json()
                    if [j["id"] for j in listed["jobs"]] != [job_id]:
                        misses.append(f"listing {name}: {listed}")
                    one = await user.get(f"/v1/jobs/{job_id}")
                    if one.status_code != 200 or one.json()["name"] != name:
                        misses.append(f"show {job_id}: {one.status_code}")
                    if random.random() < 0.3:  # a change, read back at once
                        r = await user.patch(f"/v1/jobs/{job_id}", json={"nice": 7})
                        assert r.status_code == 200, r.text
                        if (await user.get(f"/v1/jobs/{job_id}")).json()["spec"]["nice"] != 7:
                            misses.append(f"update {job_id}")

            async def reader() -> None:
                seen = 0
                while not stop.is_set():
                    jobs = (await user.get("/v1/jobs")).json()["jobs"]
                    ids = [j["id"] for j in jobs]
                    assert ids == sorted(ids) and len(ids) >= seen  # never goes back
                    seen = len(ids)
                    polls[0] += 1
                    await asyncio.sleep(0)

            readers = [asyncio.create_task(reader()) for _ in range(6)]
            try:
                await asyncio.gather(*(submitter(k) for k in range(4)))
            finally:
                stop.set()
                await asyncio.gather(*readers)
            assert misses == []
            assert polls[0] > 6
            listed = (await user.get("/v1/jobs")).json()["jobs"]
            assert len(listed) == 100
    run(scenario)


def test_requests_the_snapshot_cannot_answer_go_to_the_writer(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with served(tmp_path) as (client, _):
            user = client(os.getuid())
            r = await user.post("/v1/jobs", json=job(array="0-9"))
            array_id, task = r.json()["id"], r.json()["ids"][4]
            # a pending task of an array is no job of its own: the controller answers
            shown = await user.get(f"/v1/jobs/{task}")
            assert shown.status_code == 200 and shown.json()["id"] == task
            by_id = (await user.get("/v1/jobs", params={"id": str(task)})).json()["jobs"]
            assert [j["display_id"] for j in by_id] == [f"{array_id}_[0-9]"]
            listed = (await user.get("/v1/jobs")).json()["jobs"]
            assert [j["display_id"] for j in listed] == [f"{array_id}_[0-9]"]
            history = await user.get("/v1/jobs", params={"history": "true"})
            assert history.status_code == 200
            missing = await user.get("/v1/jobs/999999")
            assert missing.status_code == 404 and "999999" in missing.text
            bad = await user.get("/v1/jobs", params={"state": "nope"})
            assert bad.status_code in (400, 422) and "nope" in bad.text.lower()
    run(scenario)


def test_plain_answers_are_the_apis(tmp_path: Path) -> None:
    """A one-job query and an unfiltered listing, answered without the web framework,
    carry the body, type and request id the API's routes give, for the owner and
    for another user (who gets the private fields withheld)."""
    async def scenario() -> None:
        async with served(tmp_path) as (client, _):
            me, other = client(os.getuid()), client(65534)
            job_id = (await me.post("/v1/jobs", json=job(environment={"K": "v"}))).json()["id"]
            api = me._transport.app.app.app  # type: ignore[attr-defined]  # the API itself
            for c in (me, other):
                uid = c._transport.app.uid  # type: ignore[attr-defined]
                direct = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=_WithPeer(api, uid)),
                    base_url="http://corral")
                try:
                    for path in (f"/v1/jobs/{job_id}", "/v1/jobs"):
                        plain = await c.get(path, headers={"X-Request-ID": "r-1"})
                        framed = await direct.get(path, headers={"X-Request-ID": "r-1"})
                        assert plain.status_code == framed.status_code == 200
                        assert plain.content == framed.content
                        for h in ("content-type", "content-length", "x-request-id"):
                            assert plain.headers[h] == framed.headers[h], h
                finally:
                    await direct.aclose()
            mine = (await me.get(f"/v1/jobs/{job_id}")).json()
            theirs = (await other.get(f"/v1/jobs/{job_id}")).json()
            assert mine["spec"]["environment"] == {"K": "v"} and "withheld" not in mine
            assert "withheld" in theirs and theirs["spec"].get("environment") != {"K": "v"}
    run(scenario)
