"""Many submissions in one request (POST /v1/jobs:batch) and the SDK's submit_batch,
against a real controller and agent."""

from __future__ import annotations

import time

import pytest

from corral.client.batch import MAX_BATCH_JOBS
from corral.model.errors import CorralError, InvalidRequest
from tests.e2e.cluster import FINAL, Cluster


def _req(cluster: Cluster, i: int, **extra: object) -> dict[str, object]:
    return {"name": f"b{i}", "working_dir": str(cluster.state), "argv": ["true"],
            "stdout": "/dev/null", **extra}


def test_a_batch_with_one_bad_item_accepts_the_others(cluster: Cluster) -> None:
    reqs = [_req(cluster, i, hold=True) for i in range(5)]
    reqs[2]["cpus_per_node"] = 0  # refused by validation
    reqs[3]["partition"] = "nosuch"  # refused by the controller's checks
    with cluster.client() as c:
        out = c.submit_batch(reqs)
        assert [r.index for r in out] == [0, 1, 2, 3, 4]
        assert [r.ok for r in out] == [True, True, False, False, True]
        assert out[2].error == "invalid"
        assert out[2].message is not None and out[2].message.startswith("cpus_per_node:")
        assert "0" in out[2].message and "\n" not in out[2].message
        assert out[3].message is not None and "nosuch" in out[3].message
        for bad in (2, 3):  # the very answer a single submit gets
            with pytest.raises(CorralError) as single:
                c.submit(**reqs[bad])
            assert (out[bad].error, out[bad].message) == (single.value.code,
                                                          single.value.message)
        good = [r.id for r in out if r.ok]
        assert good == sorted(good) and len(set(good)) == 3
        for r in out:
            if r.ok:
                assert r.id is not None
                job = c.job(r.id)
                assert job["state"] == "HELD" and job["name"] == f"b{r.index}"
        listed = {j["id"] for j in c.jobs()}
        assert set(good) <= listed and len(listed) == 3


def test_batched_jobs_run_to_completion(cluster: Cluster) -> None:
    with cluster.client() as c:
        out = c.submit_batch([_req(cluster, i) for i in range(20)])
        assert all(r.ok for r in out)
        deadline = time.monotonic() + 30
        for r in out:
            assert r.id is not None
            job = c.wait(r.id, timeout_s=max(1.0, deadline - time.monotonic()))
            assert job["state"] == "COMPLETED", job


def test_an_array_in_a_batch_answers_all_its_ids(cluster: Cluster) -> None:
    with cluster.client() as c:
        out = c.submit_batch([_req(cluster, 0, hold=True, array="0-3"),
                              _req(cluster, 1, hold=True)])
        assert out[0].ok and len(out[0].ids) == 4 and out[0].id == min(out[0].ids)
        assert out[0].ids[-1] == out[0].id  # the last task keeps the array's id
        assert out[1].ok and out[1].ids == [out[1].id]


def test_idempotency_keys_per_item(cluster: Cluster) -> None:
    reqs = [_req(cluster, i, hold=True, idempotency_key=f"k-{i}") for i in range(3)]
    with cluster.client() as c:
        first = c.submit_batch(reqs)
        assert all(r.ok and not r.replayed for r in first)
        reqs[1]["name"] = "changed"  # the same key with another request
        again = c.submit_batch(reqs)
        assert [r.id for r in again] == [first[0].id, None, first[2].id]
        assert again[0].replayed and again[2].replayed
        assert again[1].error == "conflict" and again[1].message is not None
        assert "'k-1' was used for job" in again[1].message
        assert len(c.jobs()) == 3


def test_the_sdk_splits_a_large_batch(cluster: Cluster) -> None:
    n = MAX_BATCH_JOBS + 7
    with cluster.client() as c:
        out = c.submit_batch([_req(cluster, i, hold=True) for i in range(n)])
        assert [r.index for r in out] == list(range(n))
        assert all(r.ok for r in out)
        assert len({r.id for r in out}) == n
        assert len([j for j in c.jobs() if j["state"] not in FINAL]) == n


def test_batch_limits_are_one_line_4xx(cluster: Cluster) -> None:
    with cluster.client() as c:
        with pytest.raises(InvalidRequest, match=r"^jobs: 1001 submit requests is more "
                                                 r"than the limit of 1000"):
            c.transport.request("POST", "/v1/jobs:batch",
                                body={"jobs": [_req(cluster, i) for i in range(1001)]})
        with pytest.raises(InvalidRequest, match=r"^jobs: an empty list"):
            c.transport.request("POST", "/v1/jobs:batch", body={"jobs": []})
        out = c.transport.request("POST", "/v1/jobs:batch", body={"jobs": [5, "x"]})
        assert out["accepted"] == 0 and out["refused"] == 2
        assert [r["index"] for r in out["results"]] == [0, 1]
        assert all(r["error"] == "invalid" for r in out["results"])
        with pytest.raises(InvalidRequest, match=r"^chunk: 0 is not between 1 and 1000"):
            c.submit_batch([_req(cluster, 0)], chunk=0)
