"""Pilots' tokens (docs/pilots.md), in-process: a token signed with its site's key lets
one pilot register its own node of its own site with a deadline within the token's
life, and speak for that node only; a forged, expired or foreign token is refused.
Sites: a pilot's site is a node attribute jobs require; `GET /v1/sites` shows the
demand a site's new pilots could take."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from corral.model.pilots import PILOT_TOKEN_HEADER, mint_token
from corral.pilot.plan import plan
from tests.api.test_tokens import run

KEY = b"k" * 40


def site_config(tmp_path: Path) -> str:
    key = tmp_path / "site.key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    return f"""
[[partitions]]
name = "main"
default = true
max_time_s = "1:00:00"
default_time_s = "10:00"

[[sites]]
name = "far"
batch = "slurm"
key_file = "{key}"
controller_url = "http://127.0.0.1:1"
pilot_cpus = 2
pilot_wall_time_s = 600
deadline_margin_s = 30
"""


def register(node: str, *, site: str = "far", deadline: float | None = None
             ) -> dict[str, Any]:
    return {"node": node, "cpus": 2, "mem_mb": 1000, "boot_id": f"b-{node}", "site": site,
            "deadline": deadline if deadline is not None else time.time() + 500,
            "batch_job": "41"}


def pilot(node: str, *, site: str = "far", key: bytes = KEY, life_s: float = 900
          ) -> dict[str, str]:
    return {PILOT_TOKEN_HEADER: mint_token(key, site, node, time.time() + life_s)}


def test_a_pilot_token_speaks_for_its_own_node_of_its_site(tmp_path: Path) -> None:
    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, _: Any) -> None:
        r = await tcp.post("/agent/v1/register", json=register("far-1"),
                           headers=pilot("far-1"))
        assert r.status_code == 200, r.text
        refusals = [
            (register("far-2"), pilot("far-1"), 403, "does not speak for node 'far-2'"),
            (register("far-1", site="near"), pilot("far-1"), 403, "is not its token's"),
            (register("far-1", deadline=time.time() + 5000), pilot("far-1"), 403,
             "deadline no later than its token's end"),
            (register("far-1"), pilot("far-1", key=b"x" * 40), 401, "bad signature"),
            (register("far-1"), pilot("far-1", life_s=-60), 401, "expired"),
            (register("far-1"), pilot("far-1", site="near"), 401, "no site 'near'"),
            (register("far-1"), {PILOT_TOKEN_HEADER: "not.a.token"}, 401, "malformed"),
        ]
        for body, headers, status, said in refusals:
            r = await tcp.post("/agent/v1/register", json=body, headers=headers)
            assert r.status_code == status and said in r.text, (said, r.status_code, r.text)
        # a pilot's token reaches the agent endpoints only, for its node only
        r = await tcp.post("/agent/v1/poll", json={"node": "n1", "boot_id": "b1",
                                                   "wait_s": 0}, headers=pilot("far-1"))
        assert r.status_code == 403, r.text
        r = await tcp.get("/v1/jobs", headers=pilot("far-1"))
        assert r.status_code == 401, r.text
        r = await tcp.post("/agent/v1/poll", json={"node": "far-1", "boot_id": "b-far-1",
                                                   "wait_s": 0}, headers=pilot("far-1"))
        assert r.status_code == 200, r.text
        node = next(n for n in (await local.get("/v1/nodes")).json()["nodes"]
                    if n["name"] == "far-1")
        assert node["site"] == "far" and node["batch_job"] == "41" and node["t_deadline"]
        r = await tcp.post("/agent/v1/leave", json={"node": "far-1", "boot_id": "b-far-1"},
                           headers=pilot("far-1"))
        assert r.status_code == 200, r.text
        names = [n["name"] for n in (await local.get("/v1/nodes")).json()["nodes"]]
        assert names == ["n1"]
        # a poll that crossed its leave makes it register again: not that agent
        r = await tcp.post("/agent/v1/register", json=register("far-1"),
                           headers=pilot("far-1"))
        assert r.status_code == 403 and "this agent has left" in r.text, r.text

    run(tmp_path, site_config(tmp_path), scenario)


def test_site_demand_and_site_requirements(tmp_path: Path) -> None:
    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, _: Any) -> None:
        job = {"name": "t", "working_dir": "/tmp", "argv": ["true"]}
        # no pilot of "far" exists yet: a job requiring it is accepted, and waits
        r = await local.post("/v1/jobs", json={**job, "requirements": 'other.Site == "far"',
                                               "time_limit_s": 300})
        assert r.status_code == 201, r.text
        wanted = r.json()["id"]
        for refused, why in (({"requirements": 'other.Site == "elsewhere"'},
                              "no node in partition 'main' meets"),):
            r = await local.post("/v1/jobs", json={**job, **refused})
            assert r.status_code == 422 and why in r.text, r.text
        # longer than a pilot lives, or wider: not the site's demand
        r = await local.post("/v1/jobs", json={**job, "requirements": 'other.Site == "far"',
                                               "time_limit_s": 3000})
        too_long = r.json()["id"]
        r = await local.post("/v1/jobs", json={**job, "requirements": 'other.Site == "far"',
                                               "cpus_per_node": 4, "time_limit_s": 60})
        assert r.status_code == 422, r.text  # no node (nor pilot) of 4 CPUs
        sites = (await local.get("/v1/sites")).json()["sites"]
        far = next(s for s in sites if s["name"] == "far")
        assert far["queued_jobs"] == [wanted] and far["queued_cpus"] == 1, far
        assert far["batch"] == "slurm" and far["pilots"] == 0
        assert too_long not in far["queued_jobs"]
        # a pilot of the site comes: the job runs there, not on n1
        r = await tcp.post("/agent/v1/register", json=register("far-1"),
                           headers=pilot("far-1"))
        assert r.status_code == 200, r.text
        for _ in range(100):
            got = (await local.get(f"/v1/jobs/{wanted}")).json()
            if got["state"] == "RUNNING":
                break
            await asyncio.sleep(0.05)
        assert got["node_list"] == ["far-1"], got

    run(tmp_path, site_config(tmp_path), scenario)


def test_a_job_preferring_a_site_goes_there_first(tmp_path: Path) -> None:
    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, _: Any) -> None:
        for name, site in (("a1", "near"), ("b1", "other")):
            r = await local.post("/agent/v1/register", json={
                "node": name, "cpus": 2, "mem_mb": 1000, "boot_id": f"b-{name}",
                "site": site})
            assert r.status_code == 200, r.text
        job = {"name": "t", "working_dir": "/tmp", "argv": ["true"], "time_limit_s": 60}
        placed = {}
        for site in ("near", "other"):
            r = await local.post("/v1/jobs", json={**job, "rank": f'other.Site == "{site}"'})
            assert r.status_code == 201, r.text
            job_id = r.json()["id"]
            for _ in range(100):
                got = (await local.get(f"/v1/jobs/{job_id}")).json()
                if got["state"] == "RUNNING":
                    break
                await asyncio.sleep(0.05)
            placed[site] = got["node_list"]
        assert placed == {"near": ["a1"], "other": ["b1"]}, placed
        sites = {s["name"]: s for s in (await local.get("/v1/sites")).json()["sites"]}
        assert set(sites) == {"far", "near", "other"}
        assert sites["near"]["batch"] is None and sites["near"]["running"] == 1

    run(tmp_path, site_config(tmp_path), scenario)


def test_site_demand_keeps_within_the_site_limits(tmp_path: Path) -> None:
    """The factory sizes its pilots by `queued_cpus`: the jobs a site's limits keep
    back are not demand for it."""
    async def scenario(tcp: httpx.AsyncClient, local: httpx.AsyncClient, _: Any) -> None:
        job = {"name": "t", "working_dir": "/tmp", "argv": ["sleep", "60"],
               "requirements": 'other.Site == "far"', "time_limit_s": 300}
        ids = []
        for _ in range(3):
            r = await local.post("/v1/jobs", json=job)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        far = next(s for s in (await local.get("/v1/sites")).json()["sites"]
                   if s["name"] == "far")
        # one job at a time on far for this user: one job's worth of pilots, not three
        assert far["queued_jobs"] == ids[:1] and far["queued_cpus"] == 1, far
        assert plan(far["queued_cpus"], 2, 10, {}, set()).submit == 1
        r = await tcp.post("/agent/v1/register", json=register("far-1"),
                           headers=pilot("far-1"))
        assert r.status_code == 200, r.text
        for _ in range(100):
            if (await local.get(f"/v1/jobs/{ids[0]}")).json()["state"] == "RUNNING":
                break
            await asyncio.sleep(0.05)
        far = next(s for s in (await local.get("/v1/sites")).json()["sites"]
                   if s["name"] == "far")
        # two wait, but their owner is at the site's limit: no new pilot for them
        assert far["running"] == 1 and far["queued"] == 0 and far["queued_cpus"] == 0, far
        assert plan(far["queued_cpus"], 2, 10, {}, {"41"}).submit == 0

    run(tmp_path, site_config(tmp_path) + "\n[limits.sites.far]\nmax_jobs_per_user = 1\n",
        scenario)
