"""A controller started as the server starts a leader checks its epoch in every
write: once another controller holds the lease, its next change is refused by the
store and it starts again as a follower (api/server.py, services/leader.py)."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any

import pytest

from corral.api import server
from corral.config import load_config
from corral.model.job import JobSpec
from corral.services.controller import Controller
from corral.services.leader import Leadership
from corral.store import jobs as store_jobs
from corral.store import leader as store_leader
from corral.store.db import make_engine, migrate, reading
from tests.store.conftest import make_job


class _NoExit:
    def __init__(self, exits: list[int]) -> None:
        self.exits = exits

    def __getattr__(self, name: str) -> Any:
        import os
        return getattr(os, name)

    def _exit(self, code: int) -> None:
        self.exits.append(code)
        raise RuntimeError(f"the controller would exit ({code})")


def test_a_deposed_controllers_next_write_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "corral.toml").write_text(
        '[[partitions]]\nname = "main"\ndefault = true\n')
    cfg = load_config(str(tmp_path))
    engine = make_engine(cfg.database_url)
    migrate(engine)
    followed: list[float] = []
    exits: list[int] = []
    monkeypatch.setattr(server, "reexec", followed.append)
    # (where the controller's persist lives: it exits when the store refuses)
    monkeypatch.setattr(inspect.getmodule(Controller.persist), "os", _NoExit(exits))

    async def main() -> None:
        lead = Leadership(engine, address="unix:///me", lease_s=5.0)
        await asyncio.to_thread(lead.wait_to_lead)
        ctl = await server._start(cfg, engine, lead)
        try:
            assert await ctl.persist(lambda c: store_jobs.insert_job(c, make_job(
                spec=JobSpec(name="a", working_dir="/tmp", argv=("true",))))) == 1
            with engine.begin() as conn:  # another controller takes the lease
                assert store_leader.campaign(conn, "other", "unix:///other", 5.0,
                                             force=True) == lead.epoch + 1
            with pytest.raises(RuntimeError, match="would exit"):
                await ctl.persist(lambda c: store_jobs.insert_job(c, make_job(
                    spec=JobSpec(name="b", working_dir="/tmp", argv=("true",)))))
        finally:
            await ctl.stop()
    asyncio.run(main())
    assert followed == [5.0]  # it starts again, as a follower
    with reading(engine) as conn:
        assert [j.spec.name for j in store_jobs.query_jobs(conn)] == ["a"]
    engine.dispose()
