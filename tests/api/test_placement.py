"""Where a job may run: --nodelist, --exclude and feature constraints with | and !."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.cli.submit import build_request as corral_request
from corral.compat.slurm.submitopts import build_request as sbatch_request
from corral.model.errors import InvalidRequest
from corral.model.features import constraint_terms, join_constraint
from tests.api.harness import Ctx, run

CONFIG = """
[[partitions]]
name = "main"
default = true
[[partitions]]
name = "two"
nodes = ["n1", "n2"]
"""
NODES = {"n1": {"features": ["old", "ib"]}, "n2": {"features": ["avx512"]},
         "n3": {"features": ["avx512", "ib"], "cpus": 2}}


async def _started_on(ctx: Ctx, job_id: int) -> tuple[str, ...]:
    for _ in range(40):
        j = await ctx.job(job_id)
        if j["state"] == "RUNNING":
            return tuple(j["node_list"])
        await ctx.poll("n1", wait_s=0.05)
    raise AssertionError(f"job {job_id} did not start: {j['state']} ({j['reason']})")


def test_exclude_and_nodelist_are_honoured(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        # n1 is the first choice of an idle cluster; told to keep off it, the job does
        job_id = (await ctx.submit(exclude=["n1"])).json()["id"]
        assert await _started_on(ctx, job_id) == ("n2",)
        job_id = (await ctx.submit(nodelist=["n3"])).json()["id"]
        assert await _started_on(ctx, job_id) == ("n3",)
        # more names than nodes: the job gets them all, as in Slurm
        job_id = (await ctx.submit(nodelist=["n1", "n3"])).json()["id"]
        j = await ctx.job(job_id)
        assert j["nodes"] == 2 and j["spec"]["nodelist"] == ["n1", "n3"]
        assert sorted(await _started_on(ctx, job_id)) == ["n1", "n3"]
        # a required node that is busy: the job waits for it, not for another node
        job_id = (await ctx.submit(nodelist=["n3"], cpus_per_node=2)).json()["id"]
        for _ in range(20):  # until a pass has judged it
            await ctx.poll("n1", wait_s=0.1)
            j = await ctx.job(job_id)
            if j["reason"] != "None":
                break
        assert j["state"] == "PENDING" and j["reason"] in ("Resources", "Priority")
    run(tmp_path, CONFIG, NODES, scenario)


def test_bad_node_names_are_refused_at_submit(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        cases = [
            ({"nodelist": ["zz"]}, 404, "nodelist: no node named 'zz'"),
            ({"exclude": ["n1", "yy"]}, 404, "exclude: no node named 'yy'"),
            ({"nodelist": ["n2"], "exclude": ["n2"]}, 400, "'n2' is also excluded"),
            ({"nodelist": ["n3"], "partition": "two"}, 422,
             "nodelist: node 'n3' is not in partition 'two'"),
            ({"nodelist": ["n3"], "cpus_per_node": 4}, 422, "nodelist: node 'n3' is too small"),
            ({"exclude": ["n1", "n2"], "partition": "two"}, 422,
             "exclude: leaves 0 node(s) of partition 'two'"),
        ]
        for body, status, text in cases:
            r = await ctx.submit(hold=True, **body)
            assert r.status_code == status and text in r.text, (body, r.text)
        assert (await ctx.user.get("/v1/jobs")).json()["jobs"] == []
    run(tmp_path, CONFIG, NODES, scenario)


def test_constraints_with_or_and_not(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        job_id = (await ctx.submit(features=["!old"])).json()["id"]
        assert await _started_on(ctx, job_id) == ("n2",)
        job_id = (await ctx.submit(features=["(avx512&ib)|nosuch"])).json()["id"]
        assert await _started_on(ctx, job_id) == ("n3",)
        job_id = (await ctx.submit(features=["ib", "!old"])).json()["id"]
        assert await _started_on(ctx, job_id) == ("n3",)
        r = await ctx.submit(features=["a&|"])
        assert r.status_code == 400 and "constraint 'a&|': unexpected '|'" in r.text
        r = await ctx.submit(features=["gpu|fpga"])
        assert r.status_code == 422 and "no node in partition 'main' matches" in r.text
    run(tmp_path, CONFIG, NODES, scenario)


def test_front_ends_pass_node_lists_and_constraints() -> None:
    req = sbatch_request({"nodelist": "n[1-2]", "exclude": "n3", "constraint": "a|!b"},
                         script="#!/bin/sh\n", args=[], default_name="x")
    assert (req["nodelist"], req["exclude"], req["features"]) == (["n1", "n2"], ["n3"],
                                                                  ["a|!b"])
    with pytest.raises(InvalidRequest, match=r"\[a\|b\]"):
        sbatch_request({"constraint": "[a|b]"}, script="", args=[], default_name="x")
    with pytest.raises(InvalidRequest, match="Invalid node name"):
        sbatch_request({"nodelist": "n[1-"}, script="", args=[], default_name="x")
    req = corral_request({"nodelist": "n1,n[3-4]", "exclude": "n2", "constraint": "a&b"},
                         script="", argv=[], default_name="x")
    assert (req["nodelist"], req["exclude"], req["features"]) == (["n1", "n3", "n4"], ["n2"],
                                                                  ["a", "b"])


def test_constraint_terms_round_trip() -> None:
    assert constraint_terms("a&b,c") == ["a", "b", "c"]
    assert constraint_terms("(a|b)&c") == ["(a|b)&c"]
    assert join_constraint(["a", "b|c", "!d"]) == "a&(b|c)&(!d)"
    assert join_constraint([]) is None
