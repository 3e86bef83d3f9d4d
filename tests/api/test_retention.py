"""Finished jobs stay in the queue's view for keep_finished_s, across a restart too."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from corral.store.schema import jobs
from tests.api.harness import Ctx, run

CONFIG = """
[controller]
keep_finished_s = 600
[[partitions]]
name = "main"
default = true
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_recently_finished_jobs_survive_a_controller_restart(tmp_path: Path,
                                                             backend: str) -> None:
    async def scenario(ctx: Ctx) -> None:
        recent = (await ctx.submit()).json()["id"]
        old = (await ctx.submit()).json()["id"]
        pending = (await ctx.submit(hold=True)).json()["id"]
        launched: set[int] = set()
        for _ in range(3):  # one pass may start the first before the second is queued
            launched |= {la["job_id"] for la in await ctx.launches("n1")}
            if launched == {recent, old}:
                break
        assert launched == {recent, old}
        await ctx.report("n1", recent, exit_code=0)
        await ctx.report("n1", old, exit_code=3, state="FAILED")
        with ctx.ctl.engine.begin() as conn:  # this one ended beyond the retention
            conn.execute(update(jobs).where(jobs.c.id == old).values(t_end=1000.0))
        await ctx.restart()
        listed = {j["id"]: j for j in (await ctx.user.get("/v1/jobs")).json()["jobs"]}
        assert set(listed) == {recent, pending}
        assert listed[recent]["state"] == "COMPLETED" and listed[recent]["exit_code"] == 0
        r = await ctx.user.get("/v1/jobs", params={"state": "completed"})
        assert [j["id"] for j in r.json()["jobs"]] == [recent]
        history = (await ctx.user.get("/v1/jobs", params={"history": "true"})).json()["jobs"]
        assert {j["id"] for j in history} == {recent, old, pending}
        # nothing of a finished job is held on its node after the restart
        assert ctx.ctl.nodes["n1"].cpus_used == 0
    run(tmp_path, CONFIG, {"n1": {}}, scenario, backend=backend)
