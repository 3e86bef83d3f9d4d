"""A controller in-process with fake agents: REST calls over ASGI, agents' polls by hand."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from corral.api.app import create_app
from corral.api.peercred import _WithPeer
from corral.config import load_config
from corral.services.controller import Controller
from corral.store.db import make_engine, migrate
from tests.conftest import PG_URL


@dataclass
class Ctx:
    user: httpx.AsyncClient
    agent: httpx.AsyncClient
    ctl: Controller
    # node -> the jobs its (fake) agent runs: what its polls show
    running: dict[str, set[int]] = field(default_factory=dict)

    async def submit(self, **kw: Any) -> httpx.Response:
        body: dict[str, Any] = {"name": "t", "working_dir": "/tmp", "argv": ["true"]}
        body.update(kw)
        return await self.user.post("/v1/jobs", json=body)

    async def job(self, job_id: int) -> dict[str, Any]:
        r = await self.user.get(f"/v1/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def poll(self, node: str, running: list[int] | None = None,
                   wait_s: float = 0.2) -> list[dict[str, Any]]:
        r = await self.agent.post("/agent/v1/poll", json={
            "node": node, "boot_id": f"b-{node}", "wait_s": wait_s, "unacknowledged": [],
            "running": [{"job_id": j, "pid": 1}
                        for j in (self.running.get(node, set()) if running is None
                                  else running)]})
        assert r.status_code == 200, r.text
        return list(r.json()["orders"])

    async def launches(self, node: str, rounds: int = 10) -> list[dict[str, Any]]:
        """The launch orders a node receives within a few polls."""
        for _ in range(rounds):
            got = [o["launch"] for o in await self.poll(node) if o["kind"] == "launch"]
            self.running.setdefault(node, set()).update(la["job_id"] for la in got)
            if got:
                return got
        return []

    async def report(self, node: str, job_id: int, state: str = "COMPLETED",
                     **kw: Any) -> None:
        now = time.time()
        rep = {"job_id": job_id, "state": state, "t_start": now - 1, "t_end": now, **kw}
        self.running.get(node, set()).discard(job_id)
        r = await self.agent.post("/agent/v1/report", json={"node": node, "reports": [rep]})
        assert r.status_code == 200, r.text

    async def restart(self) -> None:
        """Stop the controller and start a new one on the same store."""
        await self.ctl.stop()
        ctl = Controller(self.ctl.cfg, self.ctl.engine)  # the same store
        await ctl.start()
        await self.user.aclose()
        await self.agent.aclose()
        self.ctl, self.user, self.agent = ctl, *_clients(ctl)


def peer_client(app: Any, uid: int | None, **options: Any) -> httpx.AsyncClient:
    """A client of `app` over ASGI, on a connection whose peer is `uid` (None: no peer,
    as over TCP); `options` for httpx.AsyncClient."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=_WithPeer(app, uid)),
                             base_url="http://corral", **options)


async def start_controller(directory: Path) -> Controller:
    """A controller started on the configuration in `directory` (its corral.toml), its
    store migrated first (ctl.engine: dispose of it after ctl.stop())."""
    cfg = load_config(str(directory))
    engine = make_engine(cfg.database_url)
    migrate(engine)
    ctl = Controller(cfg, engine)
    await ctl.start()
    return ctl


async def register_n1(client: httpx.AsyncClient) -> None:
    """Node n1 (4 CPUs, 8000 MB) registered through `client` (a local one)."""
    r = await client.post("/agent/v1/register", json={
        "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b1"})
    assert r.status_code == 200, r.text


def _clients(ctl: Controller) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    app = create_app(ctl)
    me = os.getuid()
    return peer_client(app, me), peer_client(app, me)


async def register(ctx: Ctx, node: str, **kw: Any) -> None:
    body = {"node": node, "cpus": 4, "mem_mb": 8000, "boot_id": f"b-{node}", **kw}
    r = await ctx.agent.post("/agent/v1/register", json=body)
    assert r.status_code == 200, r.text


def run(tmp_path: Path, config: str, nodes: dict[str, dict[str, Any]],
        scenario: Callable[[Ctx], Awaitable[None]], *, backend: str = "sqlite") -> None:
    """Start a controller with `config` (TOML) on `backend` (sqlite, or postgresql in a
    schema of its own), register `nodes` (name -> inventory overrides), run the
    scenario, stop."""
    async def main() -> None:
        (tmp_path / "corral.toml").write_text(config)
        cfg = load_config(str(tmp_path))
        schema = f"t_{uuid.uuid4().hex[:12]}" if backend == "postgresql" else None
        engine = make_engine(PG_URL if schema else cfg.database_url, schema=schema)
        migrate(engine)
        ctl = Controller(cfg, engine)
        await ctl.start()
        ctx = Ctx(*_clients(ctl), ctl)
        try:
            for name, inv in nodes.items():
                await register(ctx, name, **inv)
            await scenario(ctx)
        finally:
            await ctx.user.aclose()
            await ctx.agent.aclose()
            await ctx.ctl.stop()
            if schema is not None:
                with engine.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()
    asyncio.run(main())
