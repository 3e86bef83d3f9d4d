"""A job's retry_count (JDL's RetryCount): a run that fails on its own goes back to
the queue, each retry an event with its reason, until the count is used up."""

from __future__ import annotations

from pathlib import Path

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
