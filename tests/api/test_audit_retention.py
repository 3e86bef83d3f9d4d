"""Audit retention: a controller with `[audit] retain_days` removes the entries older
than that, at start and every `prune_every_s`, and keeps the newer ones; without it
every entry stays."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path

from corral.services.audit import entry_row
from corral.store import audit as store_audit
from tests.api.harness import Ctx, run

DAY_S = 86400.0


def _entry(t: float, action: str) -> dict[str, object]:
    return entry_row(caller=None, uid=0, origin="unix socket", action=action, job_id=None,
                     target="", request={}, status=200, result="ok", request_id=None, t=t)


async def _actions(ctx: Ctx) -> list[str]:
    r = await ctx.user.get("/v1/audit")
    assert r.status_code == 200, r.text
    return [e["action"] for e in r.json()["entries"]]


def test_the_controller_prunes_entries_past_their_retention(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        now = time.time()
        rows = [_entry(now - 40 * DAY_S, "old"), _entry(now - 31 * DAY_S, "older_than_30"),
                _entry(now - 29 * DAY_S, "kept")]
        await ctx.ctl.writer.run(partial(store_audit.append_entries, rows=rows))
        assert (await ctx.user.post("/v1/nodes/n1/drain", json={"reason": "x"})
                ).status_code == 200
        assert await _actions(ctx) == ["old", "older_than_30", "kept", "drain"]
        deadline = time.monotonic() + 5  # prune_every_s = 1
        while "old" in await _actions(ctx) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await _actions(ctx) == ["kept", "drain"]
        assert ctx.ctl.counters["audit_pruned"] == 2
    run(tmp_path, "[audit]\nretain_days = 30\nprune_every_s = 1\n", {"n1": {}}, scenario)


def test_without_retention_every_entry_stays(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        old = _entry(time.time() - 4000 * DAY_S, "ancient")
        await ctx.ctl.writer.run(partial(store_audit.append_entries, rows=[old]))
        await asyncio.sleep(1.5)
        assert await _actions(ctx) == ["ancient"]
        assert ctx.ctl.counters["audit_pruned"] == 0
    run(tmp_path, "", {"n1": {}}, scenario)


def test_filters_that_cannot_be_stored_are_one_line_400s(tmp_path: Path) -> None:
    """A NUL in a filter (PostgreSQL cannot hold one; found by the fuzz test) is refused
    naming the field, not a 500."""
    async def scenario(ctx: Ctx) -> None:
        for params, field in (({"action": "drain\x00x"}, "action"),
                              ({"user": ["ok", "a\x00"]}, "user")):
            r = await ctx.user.get("/v1/audit", params=params)
            assert r.status_code == 400, r.text
            assert field in r.json()["message"] and "\n" not in r.text, r.text
        assert await _actions(ctx) == []
    for backend in ("sqlite", "postgresql"):
        (tmp_path / backend).mkdir()
        run(tmp_path / backend, "", {"n1": {}}, scenario, backend=backend)
