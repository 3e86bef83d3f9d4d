"""Usage records as jobs end and the reports over them, through the REST API: a
job's record (CPU- and GPU-seconds, wait, charge by the partition's billing
weights), utilization with the sampled capacity, usage per user and account, job
size and wait buckets, and one-line refusals of bad periods."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from corral.store.schema import usage_hourly, usage_records
from tests.api.harness import Ctx, run

CONFIG = """
[accounting]
capacity_sample_s = 1

[[partitions]]
name = "main"
default = true
billing = "cpu=2.0,mem=1G,gpu=10"
"""


async def _ok(r: httpx.Response, code: int = 200) -> dict[str, Any]:
    assert r.status_code == code, r.text
    return dict(r.json())


async def _ended(ctx: Ctx, job_id: int) -> dict[str, Any]:
    for _ in range(100):
        job = await ctx.job(job_id)
        if job["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} did not end: {job}")


def test_records_and_reports_follow_the_jobs_that_end(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        a = (await _ok(await ctx.submit(cpus_per_node=2, mem_mb_per_node=2048,
                                        account="physics"), 201))["id"]
        b = (await _ok(await ctx.submit(cpus_per_node=1, mem_mb_per_node=1024), 201))["id"]
        launched: set[int] = set()
        for _ in range(10):
            launched |= {la["job_id"] for la in await ctx.launches("n1", rounds=1)}
            if launched >= {a, b}:
                break
        assert launched >= {a, b}
        await asyncio.sleep(1.1)
        await ctx.report("n1", a, cpu_time_s=1.5, max_rss_mb=100.0)
        await ctx.report("n1", b, state="FAILED", exit_code=3)
        ja, jb = await _ended(ctx, a), await _ended(ctx, b)

        rec = (await _ok(await ctx.user.get(f"/v1/jobs/{a}/usage")))["job"]
        elapsed = ja["t_end"] - ja["t_start"]
        assert rec["cpus"] == 2 and rec["account"] == "physics"
        assert abs(rec["cpu_s_alloc"] - 2 * elapsed) < 1e-6
        assert rec["cpu_s_used"] == 1.5 and rec["max_rss_mb"] == 100.0
        assert rec["energy_j"] is None  # unknown: empty, not 0
        assert abs(rec["wait_s"] - (ja["t_start"] - ja["t_submit"])) < 1e-6
        assert rec["billing"] == 2.0 * 2 + 2.0  # 2 CPUs at 2, 2 GiB at 1 per GiB
        assert abs(rec["charge"] - rec["billing"] * elapsed) < 1e-6
        rb = (await _ok(await ctx.user.get(f"/v1/jobs/{b}/usage")))["job"]
        assert rb["state"] == "FAILED" and rb["exit_code"] == 3 and rb["account"] == ""

        q = {"start": time.time() - 7200, "end": time.time() + 10}
        users = (await _ok(await ctx.user.get("/v1/reports/users", params=q)))["users"]
        by = {(u["user"], u["account"]): u for u in users}
        me = ja["user"]
        assert abs(by[(me, "physics")]["cpu_s"] - rec["cpu_s_alloc"]) < 1e-6
        assert abs(by[(me, "")]["cpu_s"] - rb["cpu_s_alloc"]) < 1e-6
        assert by[(me, "physics")]["jobs"] == 1
        util = await _ok(await ctx.user.get("/v1/reports/utilization",
                                             params={**q, "bucket": "hour"}))
        total = rec["cpu_s_alloc"] + rb["cpu_s_alloc"]
        assert abs(util["totals"]["allocated"] - total) < 1e-6
        assert util["totals"]["jobs"] == 2
        assert abs(sum(r["allocated"] for r in util["series"]) - total) < 1e-6
        accts = (await _ok(await ctx.user.get("/v1/reports/accounts", params=q)))["rows"]
        assert accts[0]["account"] == "root" and abs(accts[0]["cpu_s"] - total) < 1e-6
        sizes = (await _ok(await ctx.user.get("/v1/reports/jobs", params=q)))["buckets"]
        assert [(s["lo"], s["hi"], s["jobs"]) for s in sizes] == [(1, 1, 1), (2, 2, 1)]
        waits = (await _ok(await ctx.user.get("/v1/reports/jobs",
                                              params={**q, "by": "wait"})))["buckets"]
        assert sum(w["jobs"] for w in waits) == 2 and waits[0]["lo"] == 0
        assert jb["state"] == "FAILED"
    run(tmp_path, CONFIG, {"n1": {"cpus": 4}}, scenario)


def test_capacity_is_sampled_and_bad_periods_refused(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        q = {"start": time.time() - 3600, "end": time.time() + 10}
        totals: dict[str, Any] = {}
        for _ in range(40):  # one sample a second
            totals = (await _ok(await ctx.user.get("/v1/reports/utilization",
                                                   params=q)))["totals"]
            if totals["reported"] > 0:
                break
            await asyncio.sleep(0.1)
        assert totals["reported"] > 0 and totals["allocated"] == 0
        assert abs(totals["idle"] - totals["reported"]) < 1e-6  # one node, up, idle
        for params, field in (({"start": 10, "end": 5}, "end"),
                              ({"start": -1}, "start"),
                              ({"bucket": "fortnight"}, "bucket"),
                              ({"start": 0, "end": 4000000000}, "end"),
                              ({"start": 0, "end": 2 * 366 * 86400, "bucket": "hour"},
                               "bucket")):
            r = await ctx.user.get("/v1/reports/utilization", params=params)
            assert r.status_code == 400, r.text
            assert field in r.json()["message"] and "\n" not in r.text, r.text
        r = await ctx.user.get("/v1/jobs/99999/usage")
        assert r.status_code == 404
        # names that cannot be stored (NUL, found by the fuzzer on PostgreSQL) or too long
        for route, params, field in (("users", {"account": "a\x00b"}, "account"),
                                     ("users", {"user": "x" * 300}, "user"),
                                     ("jobs", {"partition": "p\x01"}, "partition")):
            r = await ctx.user.get(f"/v1/reports/{route}", params=params)
            assert r.status_code == 400, r.text
            assert field in r.json()["message"] and "\n" not in r.text, r.text
    run(tmp_path, CONFIG, {"n1": {"cpus": 4}}, scenario)


def test_a_requeued_run_counts_in_the_reports(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        j = (await _ok(await ctx.submit(cpus_per_node=2), 201))["id"]
        assert [la["job_id"] for la in await ctx.launches("n1")] == [j]
        await asyncio.sleep(1.0)  # the first run: a second at least on 2 CPUs
        await _ok(await ctx.user.post(f"/v1/jobs/{j}/requeue"))
        await ctx.report("n1", j, state="CANCELLED", signal=15)
        assert [la["job_id"] for la in await ctx.launches("n1")] == [j]
        await ctx.report("n1", j)
        await _ended(ctx, j)
        rec = (await _ok(await ctx.user.get(f"/v1/jobs/{j}/usage")))["job"]
        q = {"start": time.time() - 7200, "end": time.time() + 10}
        totals = (await _ok(await ctx.user.get("/v1/reports/utilization",
                                               params=q)))["totals"]
        assert totals["jobs"] == 2  # each run
        assert totals["allocated"] >= rec["cpu_s_alloc"] + 2 * 1.0 - 1e-6
    run(tmp_path, CONFIG, {"n1": {"cpus": 4}}, scenario)


def test_fair_share_usage_survives_a_restart_from_the_rollups(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        j = (await _ok(await ctx.submit(cpus_per_node=3, account="physics"), 201))["id"]
        assert [la["job_id"] for la in await ctx.launches("n1")] == [j]
        await asyncio.sleep(0.5)
        await ctx.report("n1", j)
        await _ended(ctx, j)
        before = ctx.ctl.usage.current(time.time())["physics"]
        assert before > 0
        await ctx.restart()  # read back from the hourly rollups
        after = ctx.ctl.usage.current(time.time())["physics"]
        assert after == pytest.approx(before, rel=0.01)
        # a store from before usage records: the job rows still count
        with ctx.ctl.engine.begin() as conn:
            for table in (usage_records, usage_hourly):
                conn.execute(delete(table))
        await ctx.restart()
        again = ctx.ctl.usage.current(time.time())["physics"]
        assert again == pytest.approx(before, rel=0.01)
    run(tmp_path, CONFIG, {"n1": {"cpus": 4}}, scenario)
