"""A launch order lost with a controller killed before its agent took it.

The controller stores a job RUNNING, then hands its launch order to the node's next
poll. Killed in between, it comes back with the job RUNNING and no agent that has it.
An agent process that lived through the restart (it registers with the boot id the
store has for its node) keeps every order it took: the job was never launched, so
the order is sent again and the run is not counted as a restart. A new agent process
may have had it and lost it: that run is lost (requeued as a restart)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.api.harness import Ctx, register, run

CONFIG = """
[[partitions]]
name = "main"
default = true
"""


async def _running_unlaunched(ctx: Ctx) -> int:
    """A job the controller has started (stored RUNNING: its launch order is queued
    only after the commit) and whose launch order no poll has taken."""
    job_id = int((await ctx.submit()).json()["id"])
    for _ in range(500):
        queued = ctx.ctl.orders.queued("n1")
        if any(o["kind"] == "launch" and o["job_id"] == job_id for o in queued):
            assert (await ctx.job(job_id))["state"] == "RUNNING"
            return job_id
        await asyncio.sleep(0.02)
    raise AssertionError("the job did not start")


def _launches(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [o["launch"] for o in body["orders"] if o["kind"] == "launch"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_same_agent_gets_the_lost_launch_order_again(tmp_path: Path,
                                                         backend: str) -> None:
    async def scenario(ctx: Ctx) -> None:
        job_id = await _running_unlaunched(ctx)
        await ctx.restart()
        r = await ctx.agent.post("/agent/v1/register", json={
            "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b-n1", "running": []})
        assert r.status_code == 200, r.text
        assert [(la["job_id"], la["run"]) for la in _launches(r.json())] == [(job_id, 0)]
        j = await ctx.job(job_id)
        assert (j["state"], j["restarts"], j["node_list"]) == ("RUNNING", 0, ["n1"])
        await ctx.report("n1", job_id)
        j = await ctx.job(job_id)
        assert (j["state"], j["restarts"]) == ("COMPLETED", 0)
    run(tmp_path, CONFIG, {"n1": {}}, scenario, backend=backend)


def test_a_new_agent_process_without_the_job_loses_that_run(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        job_id = await _running_unlaunched(ctx)
        await ctx.restart()
        await register(ctx, "n1", boot_id="another-process", running=[])
        j = await ctx.job(job_id)
        assert j["restarts"] == 1 and j["state"] in ("PENDING", "RUNNING")
    run(tmp_path, CONFIG, {"n1": {}}, scenario)
