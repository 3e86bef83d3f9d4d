"""The controller's side of the node checks and the retry limit, through the REST API
in-process (a registered node n1 and no agent process: the test speaks for it)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.config import load_config
from corral.model.errors import InvalidRequest
from tests.api.test_api import job, run


async def _node(client: httpx.AsyncClient) -> dict[str, Any]:
    nodes = (await client.get("/v1/nodes")).json()["nodes"]
    return next(n for n in nodes if n["name"] == "n1")


async def _health(agent: httpx.AsyncClient, ok: bool, message: str = "",
                  boot_id: str = "b1") -> httpx.Response:
    return await agent.post("/agent/v1/health", json={"node": "n1", "boot_id": boot_id,
                                                      "ok": ok, "message": message})


def test_health_verdicts_drain_and_resume_only_their_own_drains(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        # `agent` is the controller's own uid: also an administrator for /v1
        r = await _health(agent, False, "disk full")
        assert r.status_code == 200 and r.json() == {"drain": True, "drain_reason": "disk full"}
        n = await _node(user)
        assert (n["state"], n["drain_by"], n["drain_reason"]) == ("DRAINED", "health",
                                                                  "disk full")
        await _health(agent, False, "disk fuller")
        assert (await _node(user))["drain_reason"] == "disk fuller"
        await _health(agent, True)
        n = await _node(user)
        assert (n["state"], n["drain_by"], n["drain_reason"]) == ("IDLE", "", "")
        await _health(agent, True)  # a pass on a node in service changes nothing
        assert (await _node(user))["state"] == "IDLE"

        r = await agent.post("/v1/nodes/n1/drain", json={"reason": "maintenance"})
        assert r.status_code == 200 and r.json()["drain_by"] == "admin"
        await _health(agent, True)
        await _health(agent, False, "disk full")
        n = await _node(user)
        assert (n["state"], n["drain_by"], n["drain_reason"]) == ("DRAINED", "admin",
                                                                  "maintenance")
        await agent.post("/v1/nodes/n1/resume")
        await _health(agent, False, "disk full")
        assert (await _node(user))["drain_by"] == "health"

        assert (await _health(agent, True, boot_id="stale")).status_code == 409
        r = await agent.post("/agent/v1/health", json={"node": "n1", "boot_id": "b1",
                                                       "ok": False, "message": "x" * 1001})
        assert r.status_code == 400
        assert (await _node(user))["drain_by"] == "health"
    run(tmp_path, scenario)


async def _running(user: httpx.AsyncClient, job_id: int, run_no: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        j: dict[str, Any] = (await user.get(f"/v1/jobs/{job_id}")).json()
        if j["state"] == "RUNNING" and j["restarts"] == run_no:
            return j
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not start its run {run_no}")


def _prolog_failed(job_id: int, run_no: int) -> dict[str, Any]:
    message = f"prolog /etc/corral/prolog exited 1: no scratch (run {run_no})"
    return {"node": "n1", "reports": [{
        "job_id": job_id, "state": "FAILED", "exit_code": 1, "message": message,
        "prolog_failed": True, "prolog_message": message, "run": run_no}]}


def test_a_failing_prolog_drains_and_retries_until_the_limit(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        r = await user.post("/v1/jobs", json=job(hold=False, max_retries=1))
        job_id = r.json()["id"]
        await _running(user, job_id, 0)
        assert (await agent.post("/agent/v1/report",
                                 json=_prolog_failed(job_id, 0))).status_code == 200
        j = (await user.get(f"/v1/jobs/{job_id}")).json()
        assert (j["state"], j["retries"], j["restarts"]) == ("PENDING", 1, 1)
        n = await _node(user)
        assert (n["state"], n["drain_by"]) == ("DRAINED", "prolog")
        assert n["drain_reason"] == (f"prolog /etc/corral/prolog exited 1: no scratch "
                                     f"(run 0) (job {job_id})")
        await _health(agent, True)  # a passing health check does not undo it
        assert (await _node(user))["drain_by"] == "prolog"

        await agent.post("/v1/nodes/n1/resume")
        await _running(user, job_id, 1)
        await agent.post("/agent/v1/report", json=_prolog_failed(job_id, 1))
        j = (await user.get(f"/v1/jobs/{job_id}")).json()
        assert (j["state"], j["retries"], j["exit_code"]) == ("FAILED", 1, 1)
        events = (await user.get(f"/v1/jobs/{job_id}/events")).json()["events"]
        requeues = [e["data"] for e in events if e["kind"] == "requeue"]
        assert requeues == [{"why": "prolog /etc/corral/prolog exited 1: no scratch (run 0)",
                             "retry": 1, "max_retries": 1}]
        assert events[-1]["data"] == {
            "why": "prolog /etc/corral/prolog exited 1: no scratch (run 1)",
            "not_requeued": "retry limit reached (1 of 1)", "retries": 1, "max_retries": 1}
    run(tmp_path, scenario)


def test_max_retries_is_checked_at_submit(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        for bad in (-1, 101, "x", 2.5):
            r = await user.post("/v1/jobs", json=job(max_retries=bad))
            assert r.status_code == 400, r.text
            assert "max_retries" in r.json()["message"] and "\n" not in r.json()["message"]
        r = await user.post("/v1/jobs", json=job(max_retries=0))
        assert r.status_code == 201
        shown = (await user.get(f"/v1/jobs/{r.json()['id']}")).json()
        assert shown["spec"]["max_retries"] == 0 and shown["retries"] == 0
    run(tmp_path, scenario)


@pytest.mark.parametrize(("text", "error"), [
    ('[agent]\nhealth_check_program = "check.sh"\n',
     "'agent.health_check_program': Value error, needs an absolute path to a program "
     "(got 'check.sh')"),
    ('[agent]\nprolog = 3\n', "'agent.prolog': Value error, needs an absolute path"),
    ('[agent]\nhealth_check_interval_s = 0\n', "'agent.health_check_interval_s'"),
    ('[agent]\nhealth_check_programme = "/x"\n',
     "unknown key 'agent.health_check_programme'"),
    ('[controller]\nmax_retries = 101\n', "'controller.max_retries'"),
])
def test_agent_settings_are_checked(tmp_path: Path, text: str, error: str) -> None:
    (tmp_path / "corral.toml").write_text(text)
    with pytest.raises(InvalidRequest) as exc:
        load_config(str(tmp_path))
    assert error in str(exc.value) and "\n" not in str(exc.value)


def test_agent_settings_reach_agents_at_register(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_text(
        '[agent]\nhealth_check_program = "/usr/local/sbin/nhc"\n'
        'health_check_interval_s = "5:00"\nprolog = "/etc/corral/prolog"\n')
    cfg = load_config(str(tmp_path))
    assert cfg.agent.health_check_interval_s == 300
    assert cfg.agent.model_dump() == {
        "health_check_program": "/usr/local/sbin/nhc", "health_check_interval_s": 300,
        "health_check_timeout_s": 60, "prolog": "/etc/corral/prolog", "epilog": None,
        "prolog_timeout_s": 60, "epilog_timeout_s": 60}

    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        r = await agent.post("/agent/v1/register", json={
            "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b2"})
        assert r.json()["agent"]["health_check_program"] is None  # run() writes its own
        assert set(r.json()["agent"]) == set(cfg.agent.model_dump())
    run(tmp_path, scenario)


def test_a_prolog_failing_on_a_jobs_other_node_requeues_it(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        r = await agent.post("/agent/v1/register", json={
            "node": "n2", "cpus": 4, "mem_mb": 8000, "boot_id": "b2"})
        assert r.status_code == 200
        job_id = (await user.post("/v1/jobs", json=job(hold=False, nodes=2))).json()["id"]
        j = await _running(user, job_id, 0)
        batch, other = j["node_list"]
        check = {"node": other, "boot_id": "b1" if other == "n1" else "b2", "kind": "prolog",
                 "job_id": job_id, "run": 0, "message": "prolog /p exited 1: no scratch"}
        assert (await agent.post("/agent/v1/check", json={**check, "kind": "x"})
                ).status_code == 400
        r = await agent.post("/agent/v1/check", json={**check, "run": 5})  # an older run's
        assert r.json() == {"drain": True, "drain_reason":
                            f"prolog /p exited 1: no scratch (job {job_id})"}
        assert (await user.get(f"/v1/jobs/{job_id}")).json()["reason"] == "None"
        await agent.post("/v1/nodes/" + other + "/resume")
        await agent.post("/agent/v1/check", json=check)
        j = (await user.get(f"/v1/jobs/{job_id}")).json()
        assert (j["state"], j["reason"]) == ("RUNNING", "PrologFailed")  # being killed
        # its batch node reports the end the kill brought
        r = await agent.post("/agent/v1/report", json={"node": batch, "reports": [{
            "job_id": job_id, "state": "CANCELLED", "signal": 15, "cancelled": True,
            "run": 0}]})
        assert r.status_code == 200
        j = (await user.get(f"/v1/jobs/{job_id}")).json()
        assert (j["state"], j["retries"]) == ("PENDING", 1)
        requeue = [e["data"] for e in (await user.get(f"/v1/jobs/{job_id}/events")).json()[
            "events"] if e["kind"] == "requeue"]
        assert requeue == [{"why": "prolog /p exited 1: no scratch", "retry": 1,
                            "max_retries": 3}]
        # an epilog failure only drains
        await agent.post("/agent/v1/check", json={**check, "node": batch, "kind": "epilog",
                                                  "boot_id": "b1" if batch == "n1" else "b2",
                                                  "message": "epilog /e exited 2"})
        n = next(n for n in (await user.get("/v1/nodes")).json()["nodes"]
                 if n["name"] == batch)
        assert (n["drain_by"], n["drain_reason"]) == ("epilog",
                                                      f"epilog /e exited 2 (job {job_id})")
    run(tmp_path, scenario)


def test_a_new_agent_takes_no_job_before_its_first_health_verdict(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        n = await _node(user)  # n1 registered with no verdict yet: its check is to run
        assert (n["state"], n["drain_by"], n["drain_reason"]) == (
            "DRAINED", "health", "waiting for its first health check")
        job_id = (await user.post("/v1/jobs", json=job(hold=False))).json()["id"]
        await asyncio.sleep(0.3)
        assert (await user.get(f"/v1/jobs/{job_id}")).json()["state"] == "PENDING"
        await _health(agent, True)
        assert (await _node(user))["state"] != "DRAINED"
        await _running(user, job_id, 0)
        # a controller that restarted hears the agent's latest verdict as it registers
        for verdict, state in (({"ok": False, "message": "ib0 down"}, "DRAINING"),
                               ({"ok": True, "message": ""}, "ALLOCATED")):
            r = await agent.post("/agent/v1/register", json={
                "node": "n1", "cpus": 1, "mem_mb": 8000, "boot_id": "b1",
                "running": [{"job_id": job_id, "pid": 1}], "health": verdict})
            assert r.status_code == 200
            assert (await _node(user))["state"] == state
    run(tmp_path, scenario, config='[agent]\nhealth_check_program = "/usr/sbin/nhc"\n')


def test_without_a_health_check_its_drains_are_lifted(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, agent: httpx.AsyncClient) -> None:
        await _health(agent, False, "disk full")
        assert (await _node(user))["drain_by"] == "health"
        await agent.post("/agent/v1/register", json={  # the site removed its check
            "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b3"})
        assert (await _node(user))["state"] == "IDLE"
    run(tmp_path, scenario)
