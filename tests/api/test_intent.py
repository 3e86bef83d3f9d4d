"""Why a run is being stopped is kept with the job: a controller restarted between
the order to stop a run and its agent's report still ends (or requeues) the job as
it was asked to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from corral.model.intent import StopIntent
from tests.api.harness import Ctx, register, run

CONFIG = """
[[partitions]]
name = "main"
default = true
"""


async def _running(ctx: Ctx) -> int:
    job_id = int((await ctx.submit()).json()["id"])
    assert [la["job_id"] for la in await ctx.launches("n1")] == [job_id]
    for _ in range(100):
        if (await ctx.job(job_id))["state"] == "RUNNING":
            return job_id
        await asyncio.sleep(0.02)
    raise AssertionError("the job did not start")


async def _restart_keeping(ctx: Ctx, job_id: int) -> None:
    """The controller restarts; the node's agent process, which lived through it, still
    runs the job."""
    await ctx.restart()
    await register(ctx, "n1", running=[{"job_id": job_id, "pid": 1}])


def _stored_intent(ctx: Ctx, job_id: int) -> str | None:
    with ctx.ctl.engine.connect() as conn:
        value = conn.execute(text("SELECT intent FROM jobs WHERE id = :i"),
                             {"i": job_id}).scalar_one()
    return None if value is None else str(value)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_cancel_ordered_before_a_restart_ends_the_job_cancelled(tmp_path: Path,
                                                                  backend: str) -> None:
    async def scenario(ctx: Ctx) -> None:
        job_id = await _running(ctx)
        r = await ctx.user.post(f"/v1/jobs/{job_id}/cancel")
        assert r.status_code == 200, r.text
        assert _stored_intent(ctx, job_id) == StopIntent.CANCEL
        await _restart_keeping(ctx, job_id)
        assert ctx.ctl.jobs[job_id].intent == StopIntent.CANCEL
        # killed by the cancel's SIGTERM: the agent alone would say FAILED
        await ctx.report("n1", job_id, state="FAILED", signal=15)
        j = await ctx.job(job_id)
        assert (j["state"], j["reason"]) == ("CANCELLED", "None")
        assert _stored_intent(ctx, job_id) is None
    run(tmp_path, CONFIG, {"n1": {}}, scenario, backend=backend)


def test_a_requeue_hold_ordered_before_a_restart_holds_the_job(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        job_id = await _running(ctx)
        r = await ctx.user.post(f"/v1/jobs/{job_id}/requeue", json={"hold": True})
        assert r.status_code == 200, r.text
        assert (await ctx.job(job_id))["reason"] == "RequeueHold"
        await _restart_keeping(ctx, job_id)
        await ctx.report("n1", job_id, state="FAILED", signal=15)
        j = await ctx.job(job_id)
        assert (j["state"], j["reason"], j["restarts"]) == ("HELD", "JobHeldUser", 1)
        assert _stored_intent(ctx, job_id) == StopIntent.HOLD_USER
        r = await ctx.user.post(f"/v1/jobs/{job_id}/release")
        assert r.status_code == 200, r.text
        assert (await ctx.job(job_id))["reason"] != "JobHeldUser"
        assert _stored_intent(ctx, job_id) is None
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_an_agents_message_is_shown_and_decides_nothing(tmp_path: Path) -> None:
    """The text a run ends with becomes the job's reason; it is not read back as an
    order (a job whose program said "Requeue" is not requeued)."""
    async def scenario(ctx: Ctx) -> None:
        job_id = await _running(ctx)
        await ctx.report("n1", job_id, state="FAILED", exit_code=3, message="Requeue")
        j = await ctx.job(job_id)
        assert (j["state"], j["reason"], j["restarts"]) == ("FAILED", "Requeue", 0)
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_a_run_lost_while_being_ended_is_not_retried(tmp_path: Path) -> None:
    """A node lost under a job is a retry for a job that was running, but not for one
    being cancelled or an allocation its client ended: those end NODE_FAIL."""
    async def scenario(ctx: Ctx) -> None:
        cancelled = await _running(ctx)
        r = await ctx.user.post(f"/v1/jobs/{cancelled}/cancel")
        assert r.status_code == 200, r.text
        ended = int((await ctx.submit(interactive=True, argv=[])).json()["id"])
        assert [la["job_id"] for la in await ctx.launches("n1")] == [ended]
        r = await ctx.user.post(f"/v1/jobs/{ended}/end", json={"exit_code": 0})
        assert r.status_code == 200, r.text
        assert ctx.ctl.jobs[ended].intent == StopIntent.ALLOCATION_ENDED
        await register(ctx, "n2")
        ctx.running["n2"] = set()
        other = int((await ctx.submit(nodelist=["n2"])).json()["id"])
        assert [la["job_id"] for la in await ctx.launches("n2")] == [other]
        for name in ("n1", "n2"):
            ctx.ctl.nodes[name].reachable = False  # as when its lease lapsed
            r = await ctx.user.delete(f"/v1/nodes/{name}")
            assert r.status_code == 200, r.text
        for job_id in (cancelled, ended):
            j = await ctx.job(job_id)
            assert (j["state"], j["restarts"], j["retries"]) == ("NODE_FAIL", 0, 0)
        j = await ctx.job(other)
        assert (j["state"], j["retries"]) == ("PENDING", 1)
    run(tmp_path, CONFIG, {"n1": {}}, scenario)
