"""CPU binding options through the API: checked at submit, carried in the launch, and
the topology an agent reports when it registers (docs/resources.md)."""

from __future__ import annotations

from pathlib import Path

from tests.api.harness import Ctx, register, run

CONFIG = """
[[partitions]]
name = "main"
default = true
"""

TOPOLOGY = {"sockets": 2, "numa_nodes": 2, "cores": 16, "threads": 32, "cpu_list": "0-31",
            "core_types": {"performance": 6, "efficiency": 8}, "type_source": "x"}


def test_binding_options_reach_the_launch(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        r = await ctx.submit(cpu_bind="sockets2")
        assert r.status_code == 400 and "cpu_bind" in r.text and "sockets2" in r.text
        r = await ctx.submit(core_type="big")
        assert r.status_code == 400 and "core_type" in r.text and "big" in r.text
        a = (await ctx.submit(cpu_bind="Map_CPU:3,1", core_type="efficiency")).json()["id"]
        [la] = await ctx.launches("n1")
        assert (la["cpu_bind"], la["core_type"]) == ("map_cpu:3,1", "efficiency")
        spec = (await ctx.job(a))["spec"]
        assert (spec["cpu_bind"], spec["core_type"]) == ("map_cpu:3,1", "efficiency")
        await ctx.report("n1", a)
        b = (await ctx.submit(exclusive=True)).json()["id"]  # the whole node: not bound
        [la] = await ctx.launches("n1")
        assert la["job_id"] == b and (la["cpu_bind"], la["core_type"]) == ("none", "")
        # an agent reporting its topology registers as before; a bad one is refused
        await register(ctx, "n1", topology=TOPOLOGY)
        [node] = (await ctx.user.get("/v1/nodes")).json()["nodes"]
        assert node["topology"] == {**TOPOLOGY, "gpu_numa": []}  # as the agent said
        bad = {**TOPOLOGY, "core_types": {"turbo": 1}}
        r = await ctx.agent.post("/agent/v1/register", json={
            "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b-n1", "topology": bad})
        assert r.status_code == 400 and "core_types" in r.text
    run(tmp_path, CONFIG, {"n1": {"cpus": 4}}, scenario)


def test_gpus_of_one_domain_and_their_domains_reach_the_launch(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        r = await ctx.submit(gres_flags="always")
        assert r.status_code == 400 and "gres_flags" in r.text and "always" in r.text
        await register(ctx, "n1", gpus=6, topology={**TOPOLOGY, "gpu_numa": [0, 0, 0, 8, 8, 8]})
        a = (await ctx.submit(gpus_per_node=2)).json()["id"]
        [la] = await ctx.launches("n1")
        assert (la["gpu_ids"], la["gpu_domains"], la["gres_flags"]) == ([0, 1], [0], "")
        b = (await ctx.submit(gpus_per_node=2, gres_flags="enforce-binding")).json()["id"]
        [lb] = await ctx.launches("n1")  # not 2,3: the GPUs of one socket
        assert (lb["gpu_ids"], lb["gpu_domains"], lb["gres_flags"]) == (
            [3, 4], [8], "enforce-binding")
        assert (await ctx.job(b))["spec"]["gres_flags"] == "enforce-binding"
        await ctx.report("n1", a)
        await ctx.report("n1", b)
        # an agent that reads no GPUs: the domains configured for the node
        await register(ctx, "n2", gpus=2, topology=TOPOLOGY)
        assert ctx.ctl.nodes["n2"].gpu_numa == (1, 0)
        await register(ctx, "n1", gpus=6, topology={**TOPOLOGY, "gpu_numa": [0]})
        assert ctx.ctl.nodes["n1"].gpu_numa == ()  # one per GPU, or none
    run(tmp_path, CONFIG + '[[nodes]]\nname = "n2"\ngpus = 2\ngpu_numa = [1, 0]\n',
        {"n1": {"cpus": 4}}, scenario)


def test_energy_aware_sends_low_priority_work_to_efficiency_cores(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        a = (await ctx.submit(nice=10)).json()["id"]
        [la] = await ctx.launches("n1")
        assert (la["job_id"], la["core_type"]) == (a, "efficiency")
        assert (await ctx.job(a))["spec"]["core_type"] is None  # its own request: none
        await ctx.report("n1", a)
        b = (await ctx.submit(nice=10, core_type="performance")).json()["id"]
        [lb] = await ctx.launches("n1")  # what a job asks wins
        assert (lb["job_id"], lb["core_type"]) == (b, "performance")
        await ctx.report("n1", b)
        c = (await ctx.submit()).json()["id"]
        [lc] = await ctx.launches("n1")  # normal priority: any core
        assert (lc["job_id"], lc["core_type"]) == (c, "")
    run(tmp_path, "[scheduler]\nenergy_aware = true\n" + CONFIG, {"n1": {"cpus": 4}}, scenario)
