"""GPU devices: each job gets its own device indices on each node, kept across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.harness import Ctx, register, run

CONFIG = """
[[partitions]]
name = "main"
default = true
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_jobs_get_distinct_gpu_devices(tmp_path: Path, backend: str) -> None:
    async def scenario(ctx: Ctx) -> None:
        a = (await ctx.submit(gpus_per_node=2)).json()["id"]
        got = {la["job_id"]: la["gpu_ids"] for la in await ctx.launches("n1")}
        assert got == {a: [0, 1]}
        b = (await ctx.submit(gpus_per_node=1)).json()["id"]
        got = {la["job_id"]: la["gpu_ids"] for la in await ctx.launches("n1")}
        assert got == {b: [2]}
        c = (await ctx.submit(gpus_per_node=2)).json()["id"]  # one device is left
        await ctx.poll("n1", running=[a, b], wait_s=0.1)
        assert (await ctx.job(c))["state"] == "PENDING"
        none = (await ctx.submit(cpus_per_node=1)).json()["id"]
        got = {la["job_id"]: la["gpu_ids"] for la in await ctx.launches("n1")}
        assert got == {none: []}
        await ctx.report("n1", a)  # a's devices come free: c gets them
        got = {la["job_id"]: la["gpu_ids"] for la in await ctx.launches("n1")}
        assert got == {c: [0, 1]}
        assert (await ctx.job(c))["gpu_ids"] == {"n1": [0, 1]}
        assert (await ctx.job(a))["gpu_ids"] == {"n1": [0, 1]}  # its record keeps them

        # a restarted controller knows who holds which device
        await ctx.restart()
        await register(ctx, "n1", gpus=4, cpus=8,
                       running=[{"job_id": j, "pid": 1} for j in (b, c, none)])
        assert (await ctx.job(b))["gpu_ids"] == {"n1": [2]}
        d = (await ctx.submit(gpus_per_node=1)).json()["id"]
        got = {la["job_id"]: la["gpu_ids"] for la in await ctx.launches("n1")}
        assert got == {d: [3]}
    run(tmp_path, CONFIG, {"n1": {"gpus": 4, "cpus": 8}}, scenario, backend=backend)


def test_a_requeued_job_gets_devices_afresh(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        a = (await ctx.submit(gpus_per_node=1)).json()["id"]
        assert [la["gpu_ids"] for la in await ctx.launches("n1")] == [[0]]
        b = (await ctx.submit(gpus_per_node=1)).json()["id"]
        assert [la["gpu_ids"] for la in await ctx.launches("n1")] == [[1]]
        assert (await ctx.user.post(f"/v1/jobs/{a}/requeue")).status_code == 200
        await ctx.report("n1", a, state="CANCELLED")
        await ctx.report("n1", b)
        launches = await ctx.launches("n1")
        assert [(la["job_id"], la["gpu_ids"]) for la in launches] == [(a, [0])]
        assert ctx.ctl.nodes["n1"].gpu_ids_used == {0}
    run(tmp_path, CONFIG, {"n1": {"gpus": 2}}, scenario)


TYPED = CONFIG + """
[[nodes]]
name = "n1"
gpu_type = "v100"

[[nodes]]
name = "n2"
gpu_type = "a100"
"""


def test_jobs_asking_a_gpu_type_run_only_on_such_nodes(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        a = (await ctx.submit(gpus_per_node=1, gpu_type="a100")).json()["id"]
        assert [la["job_id"] for la in await ctx.launches("n2")] == [a]
        b = (await ctx.submit(gpus_per_node=1, gpu_type="a100")).json()["id"]
        # n1 is idle but holds v100s: b waits for n2's second device... which n2 has
        assert [la["job_id"] for la in await ctx.launches("n2")] == [b]
        c = (await ctx.submit(gpus_per_node=1, gpu_type="a100")).json()["id"]
        await ctx.poll("n1", running=[], wait_s=0.1)
        assert (await ctx.job(c))["state"] == "PENDING"  # not on n1's v100s
        v = (await ctx.submit(gpus_per_node=1, gpu_type="v100")).json()["id"]
        assert [la["job_id"] for la in await ctx.launches("n1")] == [v]
        r = await ctx.submit(gpus_per_node=1, gpu_type="h100")
        assert r.status_code == 422
        assert "gres: asks gpu:h100; partition 'main' has gpu:a100, gpu:v100" in r.text
    run(tmp_path, TYPED, {"n1": {"gpus": 2, "cpus": 4}, "n2": {"gpus": 2, "cpus": 4}},
        scenario)
