"""The agent protocol's messages are one set of types (corral.model.agent_messages):
the agent builds its bodies with them, the controller parses them with them, and a
bad body is a 400 naming the field, from either side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corral.agent.daemon import ControllerError, message
from corral.agent.protocol import JobReport, RunningJob
from corral.model.agent_messages import (
    AgentCheck,
    AgentHealth,
    AgentPoll,
    AgentRegister,
    AgentReport,
)
from tests.api.harness import Ctx, run

CONFIG = '[[partitions]]\nname = "main"\ndefault = true\n'


def test_what_the_agent_sends_is_what_the_controller_reads() -> None:
    running = [RunningJob(job_id=5, pid=42, rss_mb=1.25, run=2).to_dict()]
    report = JobReport(job_id=5, state="FAILED", exit_code=3, run=2, t_start=1.0,
                       t_end=2.0, epilog_failed=True, epilog_message="epilog: 1").to_dict()
    for model, fields in [
        (AgentRegister, {"node": "n1", "cpus": 2, "mem_mb": 100, "boot_id": "b",
                         "running": running, "finished": [report],
                         "health": {"ok": False, "message": "disk"}}),
        (AgentPoll, {"node": "n1", "boot_id": "b", "running": running,
                     "unacknowledged": [5], "wait_s": 20.0}),
        (AgentHealth, {"node": "n1", "boot_id": "b", "ok": True, "message": ""}),
        (AgentCheck, {"node": "n1", "kind": "prolog", "job_id": 5, "run": 2,
                      "message": "prolog: exit 1"}),
        (AgentReport, {"node": "n1", "reports": [report]}),
    ]:
        body = message(model, **fields)
        parsed = model.model_validate(body)
        assert parsed == model.model_validate(fields), model
    poll = AgentPoll.model_validate(message(AgentPoll, node="n1", running=running))
    assert poll.running[0].run == 2  # each field the agent sets reaches the controller
    rep = AgentReport.model_validate(message(AgentReport, node="n1", reports=[report]))
    assert rep.reports[0].epilog_failed and rep.reports[0].epilog_message == "epilog: 1"


@pytest.mark.parametrize(("model", "fields", "words"), [
    (AgentHealth, {"node": "a b", "ok": True}, "node"),
    (AgentPoll, {"node": "n1", "wait_s": 61}, "wait_s"),
    (AgentReport, {"node": "n1", "reports": [{"job_id": 1, "state": "RUNNING"}]},
     "reports.0.state"),
])
def test_the_agent_does_not_send_a_body_the_controller_would_refuse(
        model: Any, fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ControllerError, match=words) as e:
        message(model, **fields)
    assert "\n" not in str(e.value)


def test_a_bad_agent_body_is_a_400_naming_its_field(tmp_path: Path) -> None:
    async def scenario(ctx: Ctx) -> None:
        n1 = {"node": "n1", "boot_id": "b-n1"}
        for path, body, field in [
            ("/agent/v1/register", {"node": "n2", "cpus": "four", "mem_mb": 1}, "cpus"),
            ("/agent/v1/register", {"node": "n2", "cpus": 1, "mem_mb": 1,
                                    "health": {"message": "x"}}, "health.ok"),
            ("/agent/v1/poll", {**n1, "running": [{"job_id": 1, "run": -1}]},
             "running.0.run"),
            ("/agent/v1/poll", {**n1, "unacknowledged": ["x"]}, "unacknowledged.0"),
            ("/agent/v1/health", {**n1, "ok": "perhaps"}, "ok"),
            ("/agent/v1/health", {**n1}, "ok"),
            ("/agent/v1/check", {**n1, "kind": "postlog", "job_id": 1}, "kind"),
            ("/agent/v1/report", {"node": "n1", "reports": [
                {"job_id": 1, "state": "COMPLETED", "prolog_failed": "maybe"}]},
             "reports.0.prolog_failed"),
            ("/agent/v1/report", {"node": "n1"}, "reports"),
        ]:
            r = await ctx.agent.post(path, json=body)
            assert r.status_code == 400, (path, body, r.text)
            said = r.json()["message"]
            assert said.startswith(field + ":") and "\n" not in said, (path, said)
        r = await ctx.agent.post("/agent/v1/poll", json={
            **n1, "running": [{"job_id": 1, "run": -1}]})
        assert r.json() == {"error": "invalid",
                            "message": "running.0.run: -1 is below the minimum of 0"}
        assert [n["name"] for n in (await ctx.user.get("/v1/nodes")).json()["nodes"]] == [
            "n1"]

    run(tmp_path, CONFIG, {"n1": {}}, scenario)


def test_the_controller_reads_the_run_of_a_running_job(tmp_path: Path) -> None:
    """A node that registers running an earlier run of a job (it was requeued since)
    is told to cancel that run, and only that run."""
    async def scenario(ctx: Ctx) -> None:
        job_id = (await ctx.submit()).json()["id"]
        assert await ctx.launches("n1")
        r = await ctx.agent.post("/agent/v1/register", json={
            "node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b-n1",
            "running": [{"job_id": job_id, "pid": 7, "run": 5}]})
        assert r.status_code == 200, r.text
        cancels = [o for o in r.json()["orders"] if o["kind"] == "cancel"]
        # every order carries the leader's epoch (fencing: docs/specs/02-agent-protocol.md)
        assert all(isinstance(o.pop("epoch"), int) for o in cancels)
        assert cancels == [{"kind": "cancel", "job_id": job_id, "signal": 15,
                            "grace_s": ctx.ctl.cfg.controller.kill_grace_s, "run": 5}]

    run(tmp_path, CONFIG, {"n1": {}}, scenario)
