"""Idempotent submission in-process, on SQLite and PostgreSQL: a retry with the same
key returns the same job, also after the controller restarts; the store holds one."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from corral.api.app import create_app
from corral.store.schema import arrays, jobs, submit_keys
from tests.api.harness import peer_client, start_controller
from tests.conftest import PG_URL
from tests.store.conftest import pg_schema  # noqa: F401  (a fixture)

Session = Callable[[httpx.AsyncClient, httpx.AsyncClient], Awaitable[None]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'corral.db'}"
    schema = request.getfixturevalue("pg_schema")
    return f"{PG_URL}?schema={schema}"


def controller_session(state: Path, database: str, session: Session,
                       extra_config: str = "") -> dict[str, int]:
    """Start a controller on `database`, run the session as two users, stop it;
    returns what the store holds (jobs and keys)."""
    async def main() -> dict[str, int]:
        (state / "corral.toml").write_text(
            f'[controller]\ndatabase = "{database}"\n'
            '[[partitions]]\nname = "main"\ndefault = true\n' + extra_config)
        ctl = await start_controller(state)
        app = create_app(ctl)
        admin = peer_client(app, os.getuid())
        other = peer_client(app, 61003)
        await admin.post("/agent/v1/register", json={
            "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b1"})
        try:
            await session(admin, other)
        finally:
            await admin.aclose()
            await other.aclose()
            await ctl.stop()
        with ctl.engine.connect() as conn:
            held = {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                    for name, table in (("jobs", jobs), ("arrays", arrays),
                                        ("keys", submit_keys))}
        ctl.engine.dispose()
        return held
    return asyncio.run(main())


def job(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "t", "working_dir": "/tmp", "argv": ["true"], "hold": True}
    base.update(kw)
    return base


def test_a_retry_with_the_same_key_returns_the_same_job(tmp_path: Path, database: str) -> None:
    first: dict[str, Any] = {}

    async def before_restart(c: httpx.AsyncClient, other: httpx.AsyncClient) -> None:
        r1 = await c.post("/v1/jobs", json=job(), headers={"Idempotency-Key": "k-1"})
        r2 = await c.post("/v1/jobs", json=job(), headers={"Idempotency-Key": "k-1"})
        assert r1.status_code == r2.status_code == 201, (r1.text, r2.text)
        assert r1.json() == r2.json()
        assert "idempotent-replayed" not in r1.headers
        assert r2.headers["idempotent-replayed"] == "true"
        # the key may come as a field too; it is the same key
        r3 = await c.post("/v1/jobs", json=job(idempotency_key="k-1"))
        assert r3.json() == r1.json()
        # many at once with one key (a retry while the first is still committing)
        answers = await asyncio.gather(*[
            c.post("/v1/jobs", json=job(name="burst"), headers={"Idempotency-Key": "k-2"})
            for _ in range(8)])
        assert len({a.json()["id"] for a in answers}) == 1
        # an array: every task's id again
        arr = await c.post("/v1/jobs", json=job(array="0-4"), headers={"Idempotency-Key": "k-3"})
        assert len(arr.json()["ids"]) == 5
        # the same key with another request: refused, one line naming it
        r = await c.post("/v1/jobs", json=job(name="other"), headers={"Idempotency-Key": "k-1"})
        assert r.status_code == 409
        assert r.json()["message"] == (f"idempotency_key: 'k-1' was used for job "
                                       f"{r1.json()['id']}, with a different request")
        # another user's key space is their own
        mine = await other.post("/v1/jobs", json=job(), headers={"Idempotency-Key": "k-1"})
        assert mine.status_code == 201 and mine.json()["id"] != r1.json()["id"]
        for bad in ("", "has space", "x" * 256, "é"):
            r = await c.post("/v1/jobs", json=job(idempotency_key=bad))
            assert r.status_code == 400 and r.json()["message"].startswith(
                "idempotency_key: "), (bad, r.text)
        gone = await c.post("/v1/jobs", json=job(partition="old"),
                            headers={"Idempotency-Key": "k-4"})
        assert gone.status_code == 201, gone.text
        first.update(one=r1.json()["id"], burst=answers[0].json()["id"], arr=arr.json()["ids"],
                     gone=gone.json()["id"])

    held = controller_session(tmp_path, database, before_restart,
                              '[[partitions]]\nname = "old"\n')
    # one job per key (and the other user's), the array as its one row
    assert held == {"jobs": 4, "arrays": 1, "keys": 5}

    async def after_restart(c: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        # a fresh controller: nothing in memory, the store answers
        r = await c.post("/v1/jobs", json=job(), headers={"Idempotency-Key": "k-1"})
        assert r.status_code == 201 and r.json()["id"] == first["one"]
        assert r.headers["idempotent-replayed"] == "true"
        r = await c.post("/v1/jobs", json=job(name="burst"), headers={"Idempotency-Key": "k-2"})
        assert r.json()["id"] == first["burst"]
        r = await c.post("/v1/jobs", json=job(array="0-4"), headers={"Idempotency-Key": "k-3"})
        assert r.json()["ids"] == first["arr"]
        # its partition is gone since: a new submit is refused, the retry still answers
        r = await c.post("/v1/jobs", json=job(partition="old"))
        assert r.status_code == 404, r.text
        r = await c.post("/v1/jobs", json=job(partition="old"),
                         headers={"Idempotency-Key": "k-4"})
        assert r.status_code == 201 and r.json()["id"] == first["gone"], r.text

    held = controller_session(tmp_path, database, after_restart)
    assert held == {"jobs": 4, "arrays": 1, "keys": 5}
