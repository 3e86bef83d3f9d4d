"""Time limits: "not given" (the partition's default) and "unlimited" are two things."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.cli.submit import build_request as corral_request
from corral.compat.sge.qsub import build as qsub_build
from corral.compat.sge.qsub import parse_options as qsub_options
from corral.compat.slurm.submitopts import build_request as sbatch_request
from corral.model.errors import PermissionDenied
from corral.model.roles import Role
from corral.services.identity import Caller
from tests.api.harness import Ctx, run

CONFIG = """
[[partitions]]
name = "open"
default = true
default_time_s = "1:00:00"
[[partitions]]
name = "nolimit"
[[partitions]]
name = "capped"
max_time_s = "7-00:00:00"
default_time_s = "1:00:00"
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_job_without_a_limit_starts_in_a_partition_without_one(tmp_path: Path,
                                                                  backend: str) -> None:
    async def scenario(ctx: Ctx) -> None:
        r = await ctx.submit(partition="nolimit")
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        launches = await ctx.launches("n1")
        assert [la["job_id"] for la in launches] == [job_id]
        assert launches[0]["time_limit_s"] == 0  # nothing to enforce
        j = await ctx.job(job_id)
        assert (j["state"], j["time_limit_s"]) == ("RUNNING", 0)
    run(tmp_path, CONFIG, {"n1": {}}, scenario, backend=backend)


def test_unlimited_is_not_the_partition_default(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        given = (await ctx.submit(hold=True)).json()["id"]
        held = (await ctx.submit(hold=True, time_limit_s=0)).json()["id"]
        assert (await ctx.job(given))["time_limit_s"] == 3600
        j = await ctx.job(held)
        assert j["time_limit_s"] == 0 and j["spec"]["time_limit_s"] == 0
        r = await ctx.submit(hold=True, partition="capped", time_limit_s=0)
        assert r.status_code == 422
        assert "asks UNLIMITED; partition 'capped' allows at most 7-00:00:00" in r.text
        # its owner may lower a limit, not lift it to unlimited
        me = Caller(uid=os.getuid(), user=ctx.ctl.jobs[given].user, gid=os.getgid(),
                    role=Role.USER)
        with pytest.raises(PermissionDenied, match="above 01:00:00"):
            await ctx.ctl.update(me, given, {"time_limit_s": 0})
        assert (await ctx.ctl.update(me, held, {"time_limit_s": 60})).time_limit_s == 60
        # an unlimited job runs, and its launch carries no limit
        job_id = (await ctx.submit(time_limit_s=0)).json()["id"]
        launches = await ctx.launches("n1")
        assert [(la["job_id"], la["time_limit_s"]) for la in launches] == [(job_id, 0)]
    run(tmp_path, CONFIG, {"n1": {}}, scenario)


@pytest.mark.parametrize("text", ["UNLIMITED", "INFINITE", "unlimited"])
def test_front_ends_send_unlimited_as_zero_not_as_nothing(text: str) -> None:
    req = corral_request({"time": text}, script="#!/bin/sh\n", argv=[], default_name="x")
    assert req["time_limit_s"] == 0
    req = sbatch_request({"time": text}, script="#!/bin/sh\n", args=[], default_name="x")
    assert req["time_limit_s"] == 0
    assert "time_limit_s" not in corral_request({}, script="#!/bin/sh\n", argv=[],
                                                default_name="x")


def test_qsub_h_rt_infinity_is_unlimited() -> None:
    opts, _ = qsub_options(["-l", "h_rt=INFINITY", "true"])
    req = qsub_build(opts, "#!/bin/sh\ntrue\n", "x")
    assert req["time_limit_s"] == 0
