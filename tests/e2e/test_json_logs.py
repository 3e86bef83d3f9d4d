"""JSON logs: a real controller and agent with `log_format = "json"`; every line of
both logs parses, and a job's lines are found by its id, with the node and the REST
request that made it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import Cluster, temp_cluster


@pytest.fixture
def json_cluster() -> Iterator[Cluster]:
    with temp_cluster("corral-e2e-", controller_config='log_format = "json"') as c:
        yield c


def _lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            rec = json.loads(line)
        except ValueError:
            raise AssertionError(f"{path.name}:{n} is not JSON: {line!r}") from None
        assert isinstance(rec, dict), line
        for key in ("time", "level", "logger", "message"):
            assert key in rec, f"{path.name}:{n} has no {key!r}: {line}"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["time"]), line
        out.append(rec)
    return out


def test_json_logs_carry_job_node_and_request_ids(json_cluster: Cluster) -> None:
    c = json_cluster
    sock = str(c.state / "corral.sock")
    with httpx.Client(transport=httpx.HTTPTransport(uds=sock), base_url="http://corral") as h:
        answer = h.post("/v1/jobs", headers={"X-Request-ID": "submit-e2e-1"},
                        json={"name": "logged", "working_dir": str(c.state),
                              "argv": ["/bin/sh", "-c", "echo hi"]})
        assert answer.status_code == 201, answer.text
        assert answer.headers["x-request-id"] == "submit-e2e-1"
        job_id = answer.json()["id"]
        # an id a client could not be trusted with is replaced by one of ours
        bad = h.get(f"/v1/jobs/{job_id}", headers={"X-Request-ID": "a b\tc"})
        assert re.fullmatch(r"[0-9a-f]{16}", bad.headers["x-request-id"])
        assert re.fullmatch(r"[0-9a-f]{16}", h.get("/v1/status").headers["x-request-id"])
    assert c.wait(job_id)["state"] == "COMPLETED"

    controller = _lines(c.state / "controller.log")
    agent = _lines(c.state / "agent.log")
    mine = [r for r in controller if r.get("job_id") == job_id]
    submitted = [r for r in mine if "submitted" in r["message"]]
    assert len(submitted) == 1 and submitted[0]["request_id"] == "submit-e2e-1", mine
    assert submitted[0]["level"] == "info" and submitted[0]["logger"] == "corral.controller"
    transitions = [r["message"] for r in mine if "->" in r["message"]]
    assert any("PENDING -> RUNNING on node1" in m for m in transitions), transitions
    assert any("RUNNING -> COMPLETED" in m for m in transitions), transitions
    assert all(r["node"] == "node1" for r in mine if "RUNNING ->" in r["message"]), mine
    # the agent's lines about the job, each naming its node
    ran = [r for r in agent if r.get("job_id") == job_id]
    assert any("started" in r["message"] for r in ran), agent
    assert any("ended" in r["message"] for r in ran), agent
    assert all(r["node"] == "node1" and r["pid"] > 0 for r in agent), agent
    assert any(r["logger"] == "corral.agents" and r.get("node") == "node1"
               and "registered" in r["message"] for r in controller), controller
