"""A job's retry_count (JDL's RetryCount): a run that fails on its own goes back to
the queue, each retry an event with its reason, until the count is used up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from tests.api.harness import Ctx, run

CONFIG = """
[controller]
max_retries = 3
"""


async def _launched(ctx: Ctx, job_id: int, run_no: int) -> None:
    for _ in range(40):
        got = await ctx.launches("n1", rounds=1)
        if any(la["job_id"] == job_id for la in got):
            j = await ctx.job(job_id)
            assert j["restarts"] == run_no
            return
    raise AssertionError(f"job {job_id} was not launched (run {run_no})")


def test_a_failing_job_runs_retry_count_more_times_then_fails(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        job_id = (await ctx.submit(retry_count=2)).json()["id"]
        for run_no in range(3):
            await _launched(ctx, job_id, run_no)
            kw = {"signal": 9} if run_no == 1 else {"exit_code": 1}
            await ctx.report("n1", job_id, "FAILED", run=run_no, **kw)
        j = await ctx.job(job_id)
        assert (j["state"], j["deep_retries"], j["restarts"], j["exit_code"]) == \
            ("FAILED", 2, 2, 1)
        events = (await ctx.user.get(f"/v1/jobs/{job_id}/events")).json()["events"]
        requeues = [e["data"] for e in events if e["kind"] == "requeue"]
        assert [r["why"] for r in requeues] == ["the job failed (exit code 1)",
                                                "the job failed (signal 9)"]
        assert [r["retry"] for r in requeues] == [1, 2]
        assert events[-1]["to_state"] == "FAILED"
        assert events[-1]["data"]["not_retried"] == "retry count reached (2 of 2)"
        # a job that completes is not retried; the site caps the count
        ok = (await ctx.submit(retry_count=2)).json()["id"]
        await _launched(ctx, ok, 0)
        await ctx.report("n1", ok, "COMPLETED", run=0, exit_code=0)
        assert (await ctx.job(ok))["state"] == "COMPLETED"
        capped = (await ctx.submit(retry_count=50)).json()["id"]
        for run_no in range(4):
            await _launched(ctx, capped, run_no)
            await ctx.report("n1", capped, "FAILED", run=run_no, exit_code=3)
        j = await ctx.job(capped)
        assert (j["state"], j["deep_retries"]) == ("FAILED", 3)
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


async def _running(ctx: Ctx, job_id: int, run_no: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        j = await ctx.job(job_id)
        if j["state"] == "RUNNING" and j["restarts"] == run_no:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not start its run {run_no}")


def _prolog_failed(run_no: int) -> dict[str, object]:
    return {"exit_code": 1, "prolog_failed": True, "run": run_no,
            "message": "prolog exited 1", "prolog_message": "prolog exited 1"}


def test_a_jdl_jobs_shallow_retry_count_is_capped_by_the_site(tmp_path: Path) -> None:
    """JDL's ShallowRetryCount (max_retries) is at most controller.max_retries, as its
    RetryCount is; a native job's own max_retries is not capped."""
    async def infrastructure_failures(ctx: Ctx, job_id: int, runs: int) -> dict[str, Any]:
        for run_no in range(runs):
            await _running(ctx, job_id, run_no)
            await ctx.report("n1", job_id, "FAILED", **_prolog_failed(run_no))
            assert (await ctx.agent.post("/v1/nodes/n1/resume")).status_code == 200
        return await ctx.job(job_id)

    async def scenario(ctx: Ctx) -> None:
        jdl = "[ Executable = \"/bin/true\"; ShallowRetryCount = 50; ]"
        capped = (await ctx.submit(max_retries=50, jdl=jdl)).json()["id"]
        j = await infrastructure_failures(ctx, capped, 4)
        assert (j["state"], j["retries"], j["restarts"]) == ("FAILED", 3, 3)
        events = (await ctx.user.get(f"/v1/jobs/{capped}/events")).json()["events"]
        assert [e["data"]["max_retries"] for e in events if e["kind"] == "requeue"] == [3] * 3
        assert events[-1]["data"]["not_requeued"] == "retry limit reached (3 of 3)"
        # below the site's cap, the JDL's own count holds
        own = (await ctx.submit(max_retries=1, jdl=jdl)).json()["id"]
        j = await infrastructure_failures(ctx, own, 2)
        assert (j["state"], j["retries"]) == ("FAILED", 1)
        native = (await ctx.submit(max_retries=4)).json()["id"]
        j = await infrastructure_failures(ctx, native, 4)
        assert j["retries"] == 4 and j["state"] in ("PENDING", "RUNNING")  # a 5th run
    run(tmp_path, CONFIG, {"n1": {}}, scenario)
