"""The read model and the scheduling pass's indexes: each job is rendered once per
change and every reader still sees each change at once; a pass walks neither held
jobs, nor jobs whose begin time is ahead, nor (until some job changes) jobs
blocked by a dependency."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from corral.model.job import Job
from corral.services import scheduling
from tests.api.harness import Ctx, run

CONFIG = """
[[partitions]]
name = "main"
default = true
"""
NODES: dict[str, dict[str, Any]] = {"n1": {}}


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls = [0]
    real = getattr(owner, name)

    def counted(*a: Any, **kw: Any) -> Any:
        calls[0] += 1
        return real(*a, **kw)
    monkeypatch.setattr(owner, name, counted)
    return calls


def test_listing_renders_each_job_once_per_change(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(ctx: Ctx) -> None:
        rendered = _count(monkeypatch, Job, "to_dict")
        ids = [(await ctx.submit(hold=True, name=f"h{i}")).json()["id"] for i in range(20)]
        # each rendered once, when published before its submit was answered
        assert rendered[0] == 20
        rendered[0] = 0
        first = (await ctx.user.get("/v1/jobs")).json()["jobs"]
        assert [j["id"] for j in first] == ids
        assert rendered[0] == 0
        # the same JSON as each job's to_dict()
        assert first == [json.loads(json.dumps(ctx.ctl.jobs[i].to_dict())) for i in ids]
        rendered[0] = 0
        again = (await ctx.user.get("/v1/jobs")).json()["jobs"]
        shown = (await ctx.user.get(f"/v1/jobs/{ids[3]}")).json()
        assert again == first and shown == first[3]
        assert rendered[0] == 0  # nothing changed: nothing converted
        # a change is seen by the very next read (read-your-writes) ...
        assert (await ctx.user.post(f"/v1/jobs/{ids[5]}/release")).status_code == 200
        shown = (await ctx.user.get(f"/v1/jobs/{ids[5]}")).json()
        assert shown["state"] != "HELD"
        listed = (await ctx.user.get("/v1/jobs")).json()["jobs"]
        assert listed[5]["state"] == shown["state"]
        # ... and a new job by the listing that follows its submit
        new = (await ctx.submit(hold=True)).json()["id"]
        listed = (await ctx.user.get("/v1/jobs")).json()["jobs"]
        assert listed[-1]["id"] == new and listed[:5] == first[:5]
        # a state filter and a limit use the same renderings
        held = (await ctx.user.get("/v1/jobs", params={"state": "HELD", "limit": 3})).json()
        assert [j["id"] for j in held["jobs"]] == ids[:3]
        # only the jobs that changed were converted again (the released one, maybe
        # twice as a pass gave it a reason, and the new one)
        assert rendered[0] <= 4
    run(tmp_path, CONFIG, NODES, scenario)


def test_a_pass_walks_no_held_job_and_reuses_views(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(ctx: Ctx) -> None:
        for i in range(100):
            await ctx.submit(hold=True, name=f"h{i}")
        # the node's CPUs taken, one job that waits
        await ctx.submit(cpus_per_node=4)
        waiting = (await ctx.submit(cpus_per_node=2)).json()["id"]
        await asyncio.sleep(0.2)
        views = _count(monkeypatch, scheduling, "_pending_view")
        for _ in range(3):
            await ctx.ctl.scheduler.run_pass()
        assert views[0] == 0  # the waiting job's view is kept; held jobs have none
        assert (await ctx.job(waiting))["reason"] in ("Resources", "Priority")
        r = await ctx.user.patch(f"/v1/jobs/{waiting}", json={"nice": 10})
        assert r.status_code == 200, r.text
        await ctx.ctl.scheduler.run_pass()
        assert views[0] == 1  # changed: its view is built again, once
    run(tmp_path, CONFIG, NODES, scenario)


def test_jobs_waiting_for_their_begin_time_are_not_walked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(ctx: Ctx) -> None:
        later = time.time() + 3600
        ids = [(await ctx.submit(t_begin=later)).json()["id"] for _ in range(30)]
        views = _count(monkeypatch, scheduling, "_pending_view")
        await ctx.ctl.scheduler.run_pass()
        assert views[0] == 0
        j = await ctx.job(ids[0])
        assert (j["state"], j["reason"], j["t_expected_start"]) == ("PENDING", "BeginTime",
                                                                    later)
        # the loop wakes at the earliest begin time, not at its next periodic pass (5 s)
        soon = time.time() + 0.5
        job_id = (await ctx.submit(t_begin=soon)).json()["id"]
        for _ in range(40):
            j = await ctx.job(job_id)
            if j["state"] == "RUNNING":
                break
            await asyncio.sleep(0.05)
        assert j["state"] == "RUNNING", j["reason"]
        assert j["t_start"] - soon < 1.0
    run(tmp_path, CONFIG, NODES, scenario)


def test_dependencies_are_judged_again_only_when_a_job_changes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(ctx: Ctx) -> None:
        first = (await ctx.submit(hold=True)).json()["id"]
        then = (await ctx.submit(dependency=f"afterok:{first}")).json()["id"]
        await asyncio.sleep(0.2)
        judged = _count(monkeypatch, ctx.ctl.deps, "status")
        for _ in range(3):
            await ctx.ctl.scheduler.run_pass()
        assert judged[0] == 0  # judged once already, and nothing changed since
        assert (await ctx.job(then))["reason"] == "Dependency"
        await ctx.user.post(f"/v1/jobs/{first}/release")
        await ctx.ctl.scheduler.run_pass()
        assert judged[0] >= 1  # a job changed state: judged again
        assert (await ctx.job(then))["reason"] == "Dependency"
    run(tmp_path, CONFIG, NODES, scenario)


def test_shared_renderings_keep_private_fields_private(tmp_path: Path) -> None:
    """The owner's full rendering and everyone else's withheld one are cached side by
    side: whoever reads first, each caller gets only their own."""
    from tests.api.test_access import SECRET_ENV, SECRET_SCRIPT, Clients, script_job
    from tests.api.test_access import run as run_users

    async def scenario(c: Clients) -> None:
        job_id = (await c["a"].post("/v1/jobs", json=script_job())).json()["id"]
        for _ in range(2):  # the second round is served from the cached renderings
            for who in ("a", "b", "admin", "b", "a"):
                one = (await c[who].get(f"/v1/jobs/{job_id}")).text
                listed = (await c[who].get("/v1/jobs")).text
                for text in (one, listed):
                    assert (SECRET_ENV in text) == (who != "b"), (who, text)
                    assert ('"withheld"' in text) == (who == "b")
            # a change drops both renderings; neither comes back to the wrong caller
            r = await c["a"].patch(f"/v1/jobs/{job_id}", json={"name": "renamed"})
            assert r.status_code == 200, r.text
        b_sees = (await c["b"].get(f"/v1/jobs/{job_id}")).json()
        assert b_sees["name"] == "renamed" and b_sees["spec"]["script"] == ""
        a_sees = (await c["a"].get(f"/v1/jobs/{job_id}")).json()
        assert a_sees["spec"]["script"] == SECRET_SCRIPT
    run_users(tmp_path, scenario)


def test_a_listing_joins_again_only_the_chunks_that_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole listing is its chunks' joined renderings; after a change, the chunks
    that hold no changed job keep theirs (the very same bytes, not joined again), and
    the listing is still every job as it is now."""
    from corral.services import snapshot
    monkeypatch.setattr(snapshot, "_CHUNK_BITS", 2)  # 4 ids a chunk

    async def scenario(ctx: Ctx) -> None:
        ids = [(await ctx.submit(hold=True, name=f"h{i}")).json()["id"] for i in range(10)]
        first = (await ctx.user.get("/v1/jobs")).json()["jobs"]
        assert [j["id"] for j in first] == ids
        before = dict(ctx.ctl.publisher.current.chunks)
        assert len(before) >= 3
        changed = ids[5] >> 2
        assert (await ctx.user.post(f"/v1/jobs/{ids[5]}/release")).status_code == 200
        listed = (await ctx.user.get("/v1/jobs")).json()["jobs"]
        assert listed == [json.loads(json.dumps(ctx.ctl.jobs[i].to_dict())) for i in ids]
        assert listed[5]["state"] != "HELD" and listed[:5] == first[:5]
        after = ctx.ctl.publisher.current.chunks
        for k, chunk in after.items():
            kept = before[k].bodies
            if k == changed:
                assert chunk is not before[k] and chunk.bodies.keys() == kept.keys()
                assert all(chunk.bodies[v] is not kept[v] for v in kept)
            else:
                assert chunk is before[k] and chunk.bodies == kept
    run(tmp_path, CONFIG, NODES, scenario)


def test_packed_jobs_read_as_before_and_render_again_when_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs whose chunk stayed unchanged are packed (services/packs.py): their JSON
    leaves the entries and the jobs' caches, and every read (listing, one-job
    query, the withheld view) answers the same bytes as before; a change to a
    packed job renders it afresh."""
    from corral.services import heap, packs, readmodel, snapshot
    monkeypatch.setattr(snapshot, "_CHUNK_BITS", 3)  # 8 ids a chunk
    monkeypatch.setattr(packs, "PACK_JOBS", 3)  # several packs a chunk
    monkeypatch.setattr(heap, "RELEASE_AFTER_B", 10_000)  # (about 8 jobs' JSON)

    async def scenario(ctx: Ctx) -> None:
        ids = [(await ctx.submit(hold=True, name=f"h{i}")).json()["id"] for i in range(20)]
        listed = (await ctx.user.get("/v1/jobs")).content
        ones = [(await ctx.user.get(f"/v1/jobs/{i}")).content for i in ids]
        pub = ctx.ctl.publisher
        publics = {i: pub.current.job(i).public() for i in ids}  # type: ignore[union-attr]
        releases = 0  # (20 jobs: about 24 KB to drop in all)
        while pub.pack_cold(time.monotonic() + 10):
            pass
        snap = pub.current
        assert all(snap.job(i).full_ is None for i in ids)  # type: ignore[union-attr]
        # the jobs keep no rendering of any part, and what was dropped is handed back
        assert all(ctx.ctl.jobs[i].views is None and ctx.ctl.jobs[i].view_sched is None
                   for i in ids)
        if heap._TRIM is not None:  # (glibc; some may have been packed by the loop)
            assert pub.releaser.releases > releases
            assert pub.releaser.dropped_b < heap.RELEASE_AFTER_B
        packs._UNPACKED.clear()
        for k in snap.chunks:
            snap.chunks[k].bodies.clear()
        assert (await ctx.user.get("/v1/jobs")).content == listed
        assert [(await ctx.user.get(f"/v1/jobs/{i}")).content for i in ids] == ones
        assert {i: snap.job(i).public() for i in ids} == publics  # type: ignore[union-attr]
        assert (await ctx.user.post(f"/v1/jobs/{ids[4]}/release")).status_code == 200
        shown = (await ctx.user.get(f"/v1/jobs/{ids[4]}")).json()
        assert shown["state"] != "HELD"
        assert shown == json.loads(readmodel.job_json(ctx.ctl.jobs[ids[4]]))
        again = (await ctx.user.get("/v1/jobs")).json()["jobs"]
        assert again[4] == shown and again[:4] == json.loads(listed)["jobs"][:4]
    run(tmp_path, CONFIG, NODES, scenario)


def test_an_idle_controller_publishes_nothing_and_its_own_changes_soon(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The publisher is woken by changes, not by a timer: while nothing changes it
    neither publishes nor looks (but for the gauges, once a second); a change the
    writer makes on its own, with no request to publish it first, is published
    within a few PUBLISH_EVERY_S."""
    from corral.services import snapshot

    async def scenario(ctx: Ctx) -> None:
        job_id = (await ctx.submit(hold=True)).json()["id"]
        pub = ctx.ctl.publisher
        # the submit's scheduling passes have published (on a loaded machine the last
        # may come late): wait (bounded) until a whole 0.3 s passes with no new version
        t_settle = time.monotonic() + 10
        while time.monotonic() < t_settle:
            settled = pub.version
            await asyncio.sleep(0.3)
            if pub.version == settled:
                break
        looks = _count(monkeypatch, pub, "publish")
        version = pub.version
        chunks = dict(pub.current.chunks)
        await asyncio.sleep(0.6)
        assert looks[0] <= 1  # (a timer every PUBLISH_EVERY_S would have looked ~30 times)
        # at most the once-a-second gauges (a periodic pass counts in them), no job
        assert pub.version - version <= 1
        assert pub.current.chunks.keys() == chunks.keys()
        assert all(pub.current.chunks[k] is c for k, c in chunks.items())
        version = pub.version
        t0 = time.monotonic()
        ctx.ctl.jobs[job_id].priority = 12345.0  # as a pass or an agent's report would
        seen = None
        while time.monotonic() - t0 < 1.0:
            entry = pub.current.job(job_id)
            assert entry is not None
            seen = json.loads(entry.full)["priority"]
            if seen == 12345.0:
                break
            await asyncio.sleep(0.002)
        assert seen == 12345.0
        assert time.monotonic() - t0 < snapshot.PUBLISH_EVERY_S + 0.1
        assert version + 1 <= pub.version <= version + 2  # (+ gauges, at most)
    run(tmp_path, CONFIG, NODES, scenario)


def _projected(j: dict[str, Any]) -> dict[str, Any]:
    """A job of the full listing as the brief view shows it."""
    from corral.api.responses import JobBrief
    return {k: v for k, v in j.items() if k in JobBrief.model_fields}


def test_brief_listing_is_the_full_one_projected(tmp_path: Path) -> None:
    """GET /v1/jobs?view=brief: each job the full listing shows, with only the brief
    view's fields, for the owner, another user and an administrator with
    private_data on; filtered, by id, from history, packed, and read-your-writes."""
    from corral.api.responses import JobBrief
    from tests.api.test_access import command_job, script_job
    from tests.api.test_access import run as run_users

    async def scenario(c: Any) -> None:
        ctl = c["admin"]._transport.app.app.state.controller  # type: ignore[attr-defined]
        # keys and names a cut of the JSON could be fooled by
        tricky = {"reason": "x", "priority": "1", "t_expected_start": "}",
                  "gpu_ids": ',"exit_code":1'}
        mine = [(await c["a"].post("/v1/jobs", json=script_job(
            name=f'a,"gpu_ids":{i}"', environment=tricky))).json()["id"] for i in range(3)]
        mine.append((await c["a"].post("/v1/jobs", json=script_job(array="0-9"))).json()["id"])
        mine.append((await c["a"].post("/v1/jobs", json=script_job(hold=False))).json()["id"])
        theirs = (await c["b"].post("/v1/jobs", json=command_job())).json()["id"]
        queries: list[dict[str, Any]] = [
            {}, {"state": "HELD"}, {"user": "61001"}, {"id": str(mine[0])},
            {"history": "true"}, {"limit": "2"}]
        for round_ in range(3):
            if round_ == 1:  # packed: the brief views are made from the packs
                ctl.publisher.pack_cold(time.monotonic() + 60)
            if round_ == 2:  # a change is in the very next brief listing
                r = await c["a"].patch(f"/v1/jobs/{mine[1]}", json={"name": "renamed"})
                assert r.status_code == 200, r.text
            for who in ("a", "b", "admin"):
                for q in queries:
                    for _ in range(5):  # (the running job may change in between)
                        full = (await c[who].get("/v1/jobs", params=q)).json()["jobs"]
                        r = await c[who].get("/v1/jobs", params={**q, "view": "brief"})
                        assert r.status_code == 200, r.text
                        again = (await c[who].get("/v1/jobs", params=q)).json()["jobs"]
                        if again == full:
                            break
                    brief = r.json()["jobs"]
                    assert brief == [_projected(j) for j in full], (who, q)
                    assert all(set(j) >= set(JobBrief.model_fields) - {
                        "array_pending", "array_pending_count", "array_throttle"}
                        for j in brief)
                    ids = {j["id"] for j in brief}
                    if who == "b":
                        assert not ids & set(mine), q
                    if not q and who != "b":
                        assert set(mine) | ({theirs} if who == "admin" else set()) <= ids
                    text = r.text
                    assert "S3CRET" not in text and '"spec"' not in text
            if round_ == 2:
                listed = (await c["b"].get("/v1/jobs", params={"view": "brief"})).json()
                assert [j["id"] for j in listed["jobs"]] == [theirs]
                listed = (await c["a"].get("/v1/jobs", params={"view": "brief"})).json()
                assert {j["id"]: j["name"] for j in listed["jobs"]}[mine[1]] == "renamed"
        r = await c["a"].get("/v1/jobs", params={"view": "short"})
        assert r.status_code == 400 and "view" in r.text, r.text
        # a queued job's brief is cut from its JSON, not parsed
        from corral.services import readmodel
        entry = ctl.publisher.snapshot().job(mine[0])
        assert readmodel._cut(entry.full) is not None
        assert readmodel._cut(entry.public()) is not None
    run_users(tmp_path, scenario, controller_toml='private_data = ["jobs"]')


def test_brief_cut_matches_the_parsed_projection() -> None:
    """The brief cut out of a queued job's JSON is its parsed projection, and what is
    not laid out as a queued job's rendering is parsed."""
    from corral.services import readmodel
    job = {"id": 7, "display_id": "7", "gpu_ids": {"n1": [0], "exit_code": [1]},
           "cpu_ids": {}, "exit_code": None, "signal": None, "cpu_time_s": 1.5,
           "max_rss_mb": None, "energy_j": None, "restarts": 0, "retries": 0,
           "deep_retries": 0, "cancelled_by_uid": None, "live_usage": None,
           "spec": {"environment": {"reason": ',"reason":"x"'}}}
    full = readmodel.dumps(job)[:-1] + b"," + readmodel.dumps(
        {"reason": "None", "priority": 0.5, "priority_factors": {"age": 1.0},
         "t_expected_start": None})[1:]
    assert json.loads(readmodel.brief(full)) == readmodel.brief_dict(json.loads(full))
    assert readmodel._cut(full) is not None
    # Job.to_dict()'s order (a job read from the store), its environment ending
    # like a scheduler part
    plain = readmodel.dumps({
        "id": 7, "display_id": "7", "reason": "None", **{k: job[k] for k in (
            "gpu_ids", "cpu_ids", "exit_code", "signal", "cpu_time_s", "max_rss_mb",
            "energy_j", "restarts", "retries", "deep_retries", "cancelled_by_uid")},
        "priority": 1.0, "priority_factors": None, "t_expected_start": 3.0,
        "live_usage": None,
        "spec": {"environment": {"reason": "y", "priority": 2, "priority_factors": None,
                                 "t_expected_start": 1}}})
    assert readmodel._cut(plain) is None
    assert json.loads(readmodel.brief(plain)) == readmodel.brief_dict(json.loads(plain))
