"""Reservation changes made at the same time: each is checked and applied in memory
before its write, so none is lost, two of the same name cannot both pass, and a
change whose write fails is undone."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from corral.model.errors import Conflict
from corral.model.roles import Role
from corral.services.identity import Caller
from corral.services.reservations import Reservation, Reservations
from tests.api.harness import Ctx, run

CONFIG = """
[[partitions]]
name = "main"
default = true
"""
ADMIN = Caller(uid=os.getuid(), user="admin", gid=os.getgid(), role=Role.ADMIN)


def _res(name: str) -> Reservation:
    now = time.time()
    return Reservation(name=name, nodes=("n1",), t_start=now + 3600, t_end=now + 7200)


async def _stored(ctx: Ctx) -> set[str]:
    """The reservations a restarted controller would load."""
    fresh = Reservations(ctx.ctl)
    await ctx.ctl.writer.read(fresh.load)
    return set(fresh.items)


def test_concurrent_changes_are_all_kept(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        res = ctx.ctl.reservations
        await asyncio.gather(res.create(ADMIN, _res("a")), res.create(ADMIN, _res("b")))
        assert set(res.items) == {"a", "b"}
        assert await _stored(ctx) == {"a", "b"}
        await asyncio.gather(res.delete(ADMIN, "a"), res.create(ADMIN, _res("c")),
                             res.create(ADMIN, _res("d")))
        assert set(res.items) == {"b", "c", "d"}
        assert await _stored(ctx) == {"b", "c", "d"}
        # the same name twice at once: one is created, the other refused
        out = await asyncio.gather(res.create(ADMIN, _res("e")), res.create(ADMIN, _res("e")),
                                   return_exceptions=True)
        assert sum(isinstance(o, Conflict) for o in out) == 1
        assert await _stored(ctx) == {"b", "c", "d", "e"}
        # the same one deleted twice at once: the second finds it gone
        out = await asyncio.gather(res.delete(ADMIN, "e"), res.delete(ADMIN, "e"),
                                   return_exceptions=True)
        assert [type(o).__name__ for o in out] == ["NoneType", "NotFound"]
        assert await _stored(ctx) == {"b", "c", "d"}
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_a_change_whose_write_fails_is_undone(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(ctx: Ctx) -> None:
        res = ctx.ctl.reservations
        await res.create(ADMIN, _res("kept"))

        async def failing(op: Callable[[Connection], Any]) -> Any:
            await asyncio.sleep(0.01)  # another change comes meanwhile
            raise OSError("disk full")
        real = ctx.ctl.persist
        monkeypatch.setattr(ctx.ctl, "persist", failing)
        with pytest.raises(OSError):
            await res.create(ADMIN, _res("lost"))
        with pytest.raises(OSError):
            await res.delete(ADMIN, "kept")
        assert set(res.items) == {"kept"}
        monkeypatch.setattr(ctx.ctl, "persist", real)
        assert await _stored(ctx) == {"kept"}
    run(tmp_path, CONFIG, {"n1": {}}, scenario)
