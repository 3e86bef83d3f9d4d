"""The REST API in-process: one error table, clear 4xx answers, nothing stored on refusal."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from corral.api.app import create_app
from tests.api.harness import peer_client, register_n1, start_controller

Scenario = Callable[[httpx.AsyncClient, httpx.AsyncClient], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, *, uid: int | None = None,
        config: str = "") -> None:
    async def main() -> None:
        (tmp_path / "corral.toml").write_text(
            f'{config}\n'
            '[[partitions]]\nname = "main"\ndefault = true\nmax_time_s = "1:00:00"\n'
            '[[partitions]]\nname = "small"\nnodes = ["n1"]\nmax_nodes = 1\n')
        ctl = await start_controller(tmp_path)
        app = create_app(ctl)
        me = os.getuid() if uid is None else (None if uid < 0 else uid)
        user = peer_client(app, me)
        agent = peer_client(app, os.getuid())
        await register_n1(agent)
        try:
            await scenario(user, agent)
        finally:
            await user.aclose()
            await agent.aclose()
            await ctl.stop()
            ctl.engine.dispose()
    asyncio.run(main())


def job(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "t", "working_dir": "/tmp", "argv": ["true"], "hold": True}
    base.update(kw)
    return base


def test_submit_then_read_your_write(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        r = await user.post("/v1/jobs", json=job())
        assert r.status_code == 201
        job_id = r.json()["id"]
        r = await user.get(f"/v1/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["state"] == "HELD"
        r = await user.get("/v1/jobs", params={"state": "held"})
        assert [j["id"] for j in r.json()["jobs"]] == [job_id]
    run(tmp_path, scenario)


def test_errors_are_one_table(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        cases = [
            (job(cpus_per_node=64), 422, "asks 64 CPUs per node; the largest node in "
                                         "partition 'main' has 4"),
            (job(mem_mb_per_node=9000), 422, "asks 9000 MB of memory per node"),
            (job(time_limit_s=7200), 422, "allows at most 01:00:00"),
            (job(partition="small", nodes=2), 422, "allows at most 1"),
            (job(partition="nope"), 404, "'nope'"),
            (job(cpus_per_node=0), 400, "cpus_per_node"),
            (job(bogus=1), 400, "bogus"),
            (job(argv=[]), 400, "needs a script or a command"),
            (job(working_dir="relative"), 400, "absolute"),
        ]
        for body, status, text in cases:
            r = await user.post("/v1/jobs", json=body)
            assert r.status_code == status, (body, r.text)
            assert text in r.json()["message"], r.json()
        r = await user.get("/v1/jobs", params={"history": "true"})
        assert r.json()["jobs"] == []
        r = await user.get("/v1/jobs/12345")
        assert r.status_code == 404
        r = await user.post("/v1/jobs/12345/cancel")
        assert r.status_code == 404
    run(tmp_path, scenario)


def test_illegal_moves_are_conflicts(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        job_id = (await user.post("/v1/jobs", json=job())).json()["id"]
        r = await user.post(f"/v1/jobs/{job_id}/requeue")
        assert r.status_code == 409
        assert (await user.post(f"/v1/jobs/{job_id}/cancel")).json()["state"] == "CANCELLED"
        r = await user.post(f"/v1/jobs/{job_id}/release")
        assert r.status_code == 409 and "only a held job" in r.json()["message"]
    run(tmp_path, scenario)


def test_other_users_jobs_are_out_of_reach(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        # the agent client is the controller's own uid (an administrator)
        job_id = (await agent.post("/v1/jobs", json=job())).json()["id"]
        for action in ("cancel", "hold", "release"):
            r = await user.post(f"/v1/jobs/{job_id}/{action}")
            assert r.status_code == 403, r.text
        r = await user.post("/v1/jobs", json=job(user="root"))
        assert r.status_code == 403
    run(tmp_path, scenario, uid=65534)


def test_agent_endpoints_need_the_cluster_key_over_tcp(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        r = await user.post("/agent/v1/register", json={"node": "x", "cpus": 1, "mem_mb": 1})
        assert r.status_code == 403
    run(tmp_path, scenario, uid=65534)


def test_metrics_and_openapi(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        await user.post("/v1/jobs", json=job())
        text = (await user.get("/metrics")).text
        assert 'corral_jobs{state="HELD"} 1.0' in text
        assert 'corral_nodes{state="IDLE"} 1.0' in text
        assert "corral_jobs_submitted_total 1.0" in text
        spec = (await user.get("/openapi.json")).json()
        assert "/v1/jobs" in spec["paths"] and "/v1/jobs/{job_id}/explain" in spec["paths"]
    run(tmp_path, scenario)


def test_tcp_users_need_a_token(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        r = await user.get("/v1/jobs")
        assert r.status_code == 401 and "token" in r.json()["message"]
    run(tmp_path, scenario, uid=-1)


def test_a_report_of_an_earlier_run_is_ignored(tmp_path: Path) -> None:
    """A requeued job runs again as run 1: run 0's report, delivered late or twice,
    must not end it; run 1's report does."""
    async def poll(agent: httpx.AsyncClient, kind: str) -> dict[str, Any]:
        for _ in range(50):
            r = await agent.post("/agent/v1/poll", json={
                "node": "n1", "boot_id": "b1", "running": [], "wait_s": 0.2})
            assert r.status_code == 200, r.text
            orders = [o for o in r.json()["orders"] if o["kind"] == kind]
            if orders:
                return dict(orders[0])
        raise AssertionError(f"no {kind} order")

    def report(job_id: int, run: int, state: str) -> dict[str, Any]:
        return {"node": "n1", "reports": [{"job_id": job_id, "state": state, "exit_code": 0,
                                           "t_start": 1.0, "t_end": 2.0, "run": run}]}

    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        job_id = (await user.post("/v1/jobs", json=job(hold=False))).json()["id"]
        assert (await poll(agent, "launch"))["launch"]["run"] == 0
        assert (await user.post(f"/v1/jobs/{job_id}/requeue")).status_code == 200
        await poll(agent, "cancel")
        r = await agent.post("/agent/v1/report", json=report(job_id, 0, "CANCELLED"))
        assert r.status_code == 200
        assert (await poll(agent, "launch"))["launch"]["run"] == 1
        r = await agent.post("/agent/v1/report", json=report(job_id, 0, "CANCELLED"))
        assert r.status_code == 200  # acknowledged, and ignored
        assert (await user.get(f"/v1/jobs/{job_id}")).json()["state"] == "RUNNING"
        await agent.post("/agent/v1/report", json=report(job_id, 1, "COMPLETED"))
        j = (await user.get(f"/v1/jobs/{job_id}")).json()
        assert (j["state"], j["restarts"]) == ("COMPLETED", 1)
    run(tmp_path, scenario)


def test_a_launch_the_node_never_shows_is_sent_again_then_lost(tmp_path: Path) -> None:
    """A poll made after a launch order left must show the job running, or its report
    held; if not, the order went astray: it is sent again, twice, then the job is lost
    on that node (NODE_FAIL; requeued if requeueable). A job that shows is left alone."""
    async def poll(agent: httpx.AsyncClient, running: list[int]) -> list[dict[str, Any]]:
        r = await agent.post("/agent/v1/poll", json={
            "node": "n1", "boot_id": "b1", "wait_s": 0.3, "unacknowledged": [],
            "running": [{"job_id": j, "pid": 1} for j in running]})
        assert r.status_code == 200, r.text
        return [o for o in r.json()["orders"] if o["kind"] == "launch"]

    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        shown = (await user.post("/v1/jobs", json=job(hold=False))).json()["id"]
        lost = (await user.post("/v1/jobs", json=job(hold=False, requeue=False))).json()["id"]
        launches: list[int] = []
        for _ in range(20):
            launches += [o["job_id"] for o in await poll(agent, [shown])]
            if (await user.get(f"/v1/jobs/{lost}")).json()["state"] not in ("PENDING",
                                                                              "RUNNING"):
                break
        assert launches.count(shown) == 1
        assert launches.count(lost) == 3
        j = (await user.get(f"/v1/jobs/{lost}")).json()
        assert j["state"] == "NODE_FAIL"
        assert (await user.get(f"/v1/jobs/{shown}")).json()["state"] == "RUNNING"
    run(tmp_path, scenario)
