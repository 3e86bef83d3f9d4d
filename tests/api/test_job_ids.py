"""Job ids in REST paths and queries are read strictly: `57_5` is not job 575."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.test_api import job, run


def test_path_and_query_ids_are_strict(tmp_path: Path) -> None:
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        ids = []
        for _i in range(12):
            r = await user.post("/v1/jobs", json=job())
            ids.append(r.json()["id"])
        assert 11 in ids  # "1_1" would be read as 11 by int()
        for method, path in [("GET", "/v1/jobs/1_1"), ("GET", "/v1/jobs/1_1/events"),
                             ("GET", "/v1/jobs/1_1/explain"), ("POST", "/v1/jobs/1_1/cancel"),
                             ("POST", "/v1/jobs/1_1/release"), ("POST", "/v1/jobs/+11/hold"),
                             ("GET", "/v1/jobs/1_1/steps"), ("GET", "/v1/jobs/%2011"),
                             ("POST", "/v1/jobs/11/steps/0_1/end")]:
            r = await user.request(method, path, json={} if method == "POST" else None)
            assert r.status_code == 400, (path, r.text)
            assert "is not a job id" in r.text or "is not a step id" in r.text, r.text
        r = await user.get("/v1/jobs", params={"id": "1_1"})
        assert r.status_code == 400 and "id: '1_1' is not a job id" in r.json()["message"]
        r = await user.get("/v1/jobs", params={"state": "BOGUS"})
        assert r.status_code == 400 and "'BOGUS' is not a job state" in r.json()["message"]
        assert (await user.get("/v1/jobs/11")).json()["state"] == "HELD"
    run(tmp_path, scenario)


def test_audit_query_numbers_are_bounded(tmp_path: Path) -> None:
    """An id past 64 bits or a float that is not a number is a 4xx, not a store error."""
    async def scenario(user: httpx.AsyncClient, _: httpx.AsyncClient) -> None:
        for params in [{"job": str(2**64)}, {"job": str(2**63)}, {"since": "nan"},
                       {"until": "inf"}]:
            r = await user.get("/v1/audit", params=params)
            assert r.status_code in (400, 422), (params, r.text)
        assert (await user.get("/v1/audit", params={"job": "1"})).status_code == 200
    run(tmp_path, scenario)
