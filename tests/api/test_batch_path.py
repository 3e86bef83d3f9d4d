"""The batch submission path in-process: a request read as model_dump would read it,
the id runs of its log line, and a batch's items against a real controller
(SQLite): plain, keyed, refused and arrays together, one log line per slice."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from corral.api.schemas import SubmitRequest
from corral.model.job import JobSpec
from corral.services.controller import id_ranges
from tests.api.harness import Ctx, run

CONFIG = """
[[partitions]]
name = "main"
default = true
max_time_s = "1:00:00"
"""


def test_a_request_becomes_the_spec_model_dump_would_give() -> None:
    body = SubmitRequest.model_validate({
        "name": "n", "working_dir": "/w", "script": "#!/bin/sh\ntrue\n",
        "environment": {"A": "1"}, "stdout": "o-%j", "stderr": "e", "partition": "p",
        "account": "a", "nodes": 2, "cpus_per_node": 3, "mem_mb_per_node": 100,
        "gpus_per_node": 1, "time_limit_s": 60, "nice": 5, "priority": 9, "hold": True,
        "t_begin": 12.5, "requeue": False, "max_retries": 2, "features": ["f"],
        "nodelist": ["n1"], "exclude": ["n2"], "exclusive": True, "array": "0-3",
        "dependency": "afterok:1", "signal": "USR1@60", "qos": "q", "reservation": "r",
        "notify": True, "requirements": "true", "rank": "1", "retry_count": 1,
        "licenses": "l:1", "gpu_type": "a100", "credential": True, "cpu_bind": "cores",
        "gres": "nic:1", "input_sandbox": [], "output_sandbox": ["out"],
        "user": "bob", "idempotency_key": "k"})
    dumped = JobSpec.from_dict(body.model_dump(exclude={"user", "idempotency_key"}))
    assert body.to_spec() == dumped
    assert body.user == "bob" and body.idempotency_key == "k"  # (left on the request)


def test_id_ranges() -> None:
    assert id_ranges([]) == ""
    assert id_ranges([5]) == "5"
    assert id_ranges([9, 5, 6, 7, 12, 13, 20]) == "5-7,9,12-13,20"


def _req(i: int, **kw: Any) -> dict[str, Any]:
    return {"name": f"b{i}", "working_dir": "/tmp", "argv": ["true"], "hold": True, **kw}


def test_a_batch_mixes_plain_keyed_refused_and_arrays(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(ctx: Ctx) -> None:
        items = [_req(i) for i in range(600)]  # three slices
        items[3] = _req(3, idempotency_key="key-3")
        items[4] = _req(4, cpus_per_node=0)  # refused by the request's checks
        items[5] = _req(5, partition="nosuch")  # refused by the controller's
        items[6] = _req(6, array="0-2")
        items[599] = _req(599, idempotency_key="key-599", array="0-1")
        with caplog.at_level(logging.INFO, logger="corral.controller"):
            r = await ctx.user.post("/v1/jobs:batch", json={"jobs": items})
        assert r.status_code == 200, r.text
        answer = r.json()
        assert (answer["accepted"], answer["refused"]) == (598, 2)
        results = answer["results"]
        assert [x["index"] for x in results] == list(range(600))
        assert results[4]["error"] == "invalid" and "cpus_per_node" in results[4]["message"]
        assert results[5]["error"] == "not_found" and "nosuch" in results[5]["message"]
        assert len(results[6]["ids"]) == 3 and len(results[599]["ids"]) == 2
        plain = [x["id"] for i, x in enumerate(results) if i not in (3, 4, 5, 6, 599)]
        assert plain == sorted(plain) and len(set(plain)) == len(plain) == 595
        # every job is listed the moment the answer is in (read-your-writes)
        listed = (await ctx.user.get("/v1/jobs")).json()["jobs"]
        ids = {j["id"] for j in listed}
        assert set(plain) <= ids and {results[3]["id"]} <= ids
        # the keyed items are replayed; the others are new jobs
        again = await ctx.user.post("/v1/jobs:batch", json={"jobs": [items[3], items[599]]})
        assert [x["replayed"] for x in again.json()["results"]] == [True, True]
        assert [x["ids"] for x in again.json()["results"]] == [results[3]["ids"],
                                                              results[599]["ids"]]
        # one line for each slice's plain jobs, not one a job
        lines = [rec.getMessage() for rec in caplog.records
                 if rec.name == "corral.controller" and "submitted by" in rec.getMessage()]
        assert sum(rec.startswith("jobs ") for rec in lines) == 3, lines
        assert sum(rec.startswith("jobs ") and "(250 jobs)" in rec for rec in lines) == 1
        assert ctx.ctl.counters["jobs_submitted"] == 595 + 1 + 3 + 2
    run(tmp_path, CONFIG, {"n1": {}}, scenario)
