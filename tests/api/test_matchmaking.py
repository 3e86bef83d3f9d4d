"""Requirements and Rank (ClassAd expressions) against the node ads: where a job may
run, which node it prefers, and the refusal at submit naming the clause no node meets."""

from __future__ import annotations

from pathlib import Path

from tests.api.harness import Ctx, run

CONFIG = """
[[partitions]]
name = "main"
default = true

[[nodes]]
name = "big"
attributes = { Site = "east", Disk = 500 }
"""
NODES = {"small": {"cpus": 2, "mem_mb": 4000, "features": ["avx2"]},
         "mid": {"cpus": 4, "mem_mb": 16000, "features": ["avx2", "ib"]},
         "big": {"cpus": 8, "mem_mb": 32000, "features": ["avx2"]},
         "old": {"cpus": 16, "mem_mb": 64000, "features": ["sse4"]}}
REQ = 'other.Memory >= 8000 && member("avx2", other.Features)'


async def _started_on(ctx: Ctx, job_id: int) -> tuple[str, ...]:
    for _ in range(40):
        j = await ctx.job(job_id)
        if j["state"] == "RUNNING":
            return tuple(j["node_list"])
        await ctx.poll("small", wait_s=0.05)
    raise AssertionError(f"job {job_id} did not start: {j['state']} ({j['reason']})")


def test_requirements_select_and_rank_orders(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        # eligible: mid and big (old lacks avx2, small has too little memory); the
        # rank picks the one with the most CPUs
        r = await ctx.submit(requirements=REQ, rank="other.Cpus")
        assert r.status_code == 201, r.text
        assert await _started_on(ctx, r.json()["id"]) == ("big",)
        # the opposite rank: the fewest CPUs among the eligible
        r = await ctx.submit(requirements=REQ, rank="-other.Cpus")
        assert await _started_on(ctx, r.json()["id"]) == ("mid",)
        # a rank alone orders every node; site attributes are in the ads
        r = await ctx.submit(rank="other.Memory")
        assert await _started_on(ctx, r.json()["id"]) == ("old",)
        r = await ctx.submit(requirements='other.Site == "east" && other.Disk > 100')
        assert await _started_on(ctx, r.json()["id"]) == ("big",)
        j = await ctx.job(r.json()["id"])
        assert j["spec"]["requirements"] == 'other.Site == "east" && other.Disk > 100'
    run(tmp_path, CONFIG, NODES, scenario)


def test_unsatisfiable_requirements_are_refused_naming_the_clause(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        r = await ctx.submit(requirements=f"{REQ} && other.Gpus >= 1")
        assert r.status_code == 422, r.text
        assert "'other.Gpus >= 1'" in r.text and "requirements" in r.text, r.text
        # each clause met by some node, never all at once
        r = await ctx.submit(requirements='other.Cpus >= 16 && member("avx2", other.Features)')
        assert r.status_code == 422 and "all of" in r.text, r.text
        # not an expression: a 400 naming the field
        r = await ctx.submit(requirements="other.Memory >=")
        assert r.status_code == 400 and "requirements" in r.text, r.text
        r = await ctx.submit(rank="other.Cpus +")
        assert r.status_code == 400 and "rank" in r.text, r.text
    run(tmp_path, CONFIG, NODES, scenario)


def test_explain_names_the_requirement_no_node_meets_now(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        # idle, every node meets it; while n is busy none does: the job waits
        hog = await ctx.submit(cpus_per_node=16)
        assert await _started_on(ctx, hog.json()["id"]) == ("old",)
        r = await ctx.submit(requirements="other.FreeCpus >= 16")
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        for _ in range(40):
            await ctx.poll("small", wait_s=0.05)
            j = await ctx.job(job_id)
            if j["reason"] != "None":
                break
        assert j["state"] == "PENDING" and j["reason"] == "BadConstraints", j
        e = (await ctx.user.get(f"/v1/jobs/{job_id}/explain")).json()
        assert any("'other.FreeCpus >= 16'" in line for line in e["explanation"]), e
    run(tmp_path, CONFIG, NODES, scenario)


def test_the_nodes_that_could_hold_the_job_must_meet_it(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        # mid has ib but 4 CPUs; the nodes with 8 CPUs or more lack ib
        r = await ctx.submit(cpus_per_node=8, requirements='member("ib", other.Features)')
        assert r.status_code == 422, r.text
        assert r.json()["message"].endswith("""meets 'member("ib",other.Features)'"""), r.text
        r = await ctx.submit(nodes=3, requirements=REQ)
        assert r.status_code == 422, r.text
        assert "asks 3 nodes; 2 of partition 'main'" in r.json()["message"], r.text
        # sbatch --test-only's estimate honours them too
        r = await ctx.user.post("/v1/jobs/estimate", json={
            "name": "t", "working_dir": "/tmp", "argv": ["true"], "requirements": REQ,
            "rank": "other.Memory"})
        assert r.status_code == 200 and r.json()["nodes"] == ["big"], r.text
    run(tmp_path, CONFIG, NODES, scenario)


def test_jobs_asking_alike_share_one_evaluation_per_node(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        match = ctx.ctl.scheduler.match  # type: ignore[union-attr]
        jobs = list(ctx.ctl.jobs.values())
        assert not jobs
        ids = [(await ctx.submit(name=f"p{i}", requirements=REQ, hold=True)).json()["id"]
               for i in range(20)]
        match.refresh(ctx.ctl.nodes.values())
        before = match.evaluations
        placed = {match.place(ctx.ctl.jobs[i]) for i in ids}
        assert len(placed) == 1 and match.evaluations - before == len(NODES)
        assert next(iter(placed))[0] == frozenset({"mid", "big"})
        # nothing changed: the next pass evaluates nothing; a node changed: again
        match.refresh(ctx.ctl.nodes.values())
        match.place(ctx.ctl.jobs[ids[0]])
        assert match.evaluations - before == len(NODES)
        ctx.ctl.nodes["old"].drain = True
        match.refresh(ctx.ctl.nodes.values())
        match.place(ctx.ctl.jobs[ids[0]])
        assert match.evaluations - before == 2 * len(NODES)
        # the GLUE names of gLite JDLs
        glue = ('other.GlueHostMainMemoryRAMSize >= 30000 && '
                'other.GlueCEStateStatus == "Production"')
        r = await ctx.submit(requirements=glue, hold=True)
        assert r.status_code == 201, r.text
        eligible, _ = match.place(ctx.ctl.jobs[r.json()["id"]])
        assert eligible == frozenset({"big"})  # old is drained
    run(tmp_path, CONFIG, NODES, scenario)
