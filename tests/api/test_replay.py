"""Replay equals live: a mixed workload runs on a controller (fake agents, real store);
its store's event log, replayed into a fresh state with services/state.py's one
`apply`, must give every job and array rest field by field as the live controller
holds it and as the store's rows hold it (docs/adr/0003-events-and-apply.md)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from corral.model.event import Event, EventKind
from corral.model.job import SCHED_FIELDS, Job
from corral.model.record import IMAGE_FIELDS, encode
from corral.model.states import JobState
from corral.services.state import ClusterState, replay
from corral.store import arrays as store_arrays
from corral.store import events as store_events
from corral.store import jobs as store_jobs
from corral.store.schema import jobs as jobs_table
from tests.api.harness import Ctx, register, run

CONFIG = """
[[partitions]]
name = "low"
default = true
preempt_mode = "requeue"

[[partitions]]
name = "high"
priority_tier = 1

[[partitions]]
name = "sus"
preempt_mode = "suspend"
"""

# the columns of an array rest's row (store/arrays.py)
REST_FIELDS = ("user", "uid", "gid", "t_submit", "state", "reason", "intent", "partition",
               "time_limit_s", "mem_mb_per_node", "t_end", "priority", "spec")


def test_an_image_holds_every_column_of_a_jobs_row() -> None:
    """A column added to `jobs` must be in what events carry (model/record.py), else
    replay would not give it back."""
    derived = {"id": "id", "node_list": "nodes", "name": "spec", "account": "spec"}
    columns = {derived.get(c.name, c.name) for c in jobs_table.columns} - {"id"}
    assert columns == set(IMAGE_FIELDS), columns ^ set(IMAGE_FIELDS)


def _differences(what: str, a: Job, b: Job, fields: tuple[str, ...]) -> list[str]:
    ea, eb = encode(a, fields), encode(b, fields)
    return [f"{what}: {name}: replayed {ea[name]!r}, other {eb[name]!r}"
            for name in fields if ea[name] != eb[name]]


async def _ok(r: Any) -> dict[str, Any]:
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


async def _submit(ctx: Ctx, **kw: Any) -> int:
    return int((await _ok(await ctx.submit(**kw)))["id"])


async def _until(ctx: Ctx, job_id: int, *states: str) -> dict[str, Any]:
    for _ in range(200):
        j = await ctx.job(job_id)
        if j["state"] in states:
            return j
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} is {j['state']}, not {states}")


async def _launched(ctx: Ctx, count: int) -> list[int]:
    """The next `count` jobs launched on n1 (polled a bounded number of times)."""
    got: list[int] = []
    for _ in range(20):
        got += [la["job_id"] for la in await ctx.launches("n1", rounds=3)]
        if len(got) >= count:
            return got
    raise AssertionError(f"{len(got)} of {count} launches came: {got}")


async def _workload(ctx: Ctx) -> None:
    # a plain job, completed; one that fails
    a = await _submit(ctx)
    assert await _launched(ctx, 1) == [a]
    await ctx.report("n1", a, exit_code=0)
    f = await _submit(ctx, argv=["false"])
    assert await _launched(ctx, 1) == [f]
    await ctx.report("n1", f, state="FAILED", exit_code=1)
    # dependencies: one met, one never met (fails at once)
    met = await _submit(ctx, dependency=f"afterok:{a}")
    assert await _launched(ctx, 1) == [met]
    await ctx.report("n1", met, exit_code=0)
    never = await _submit(ctx, dependency=f"afterok:{f}")
    await _until(ctx, never, "FAILED")
    # an array of 10, 2 at a time: held and renamed as a whole, one task held alone
    arr = await _submit(ctx, array="0-9%2")
    first = await _launched(ctx, 2)
    await _ok(await ctx.user.post(f"/v1/jobs/{arr}/hold?array=true"))
    await _ok(await ctx.user.patch(f"/v1/jobs/{arr}?array=true", json={"name": "renamed"}))
    await _ok(await ctx.user.post(f"/v1/jobs/{arr}/release?array=true"))
    pending = [j["id"] for j in (await _ok(await ctx.user.get(
        "/v1/jobs", params={"array": arr})))["jobs"] if j["state"] == "PENDING"]
    alone = max(int(i) for i in pending if int(i) not in first) if pending else None
    if alone is not None:
        await _ok(await ctx.user.post(f"/v1/jobs/{alone}/hold"))
        await _ok(await ctx.user.patch(f"/v1/jobs/{alone}", json={"nice": 5}))
        await _ok(await ctx.user.post(f"/v1/jobs/{alone}/release"))
    for job_id in first:
        await ctx.report("n1", job_id, exit_code=0)
    second = await _launched(ctx, 2)
    await ctx.report("n1", second[0], state="FAILED", exit_code=3)
    await ctx.report("n1", second[1], exit_code=0)
    await _ok(await ctx.user.post(f"/v1/jobs/{arr}/cancel?array=true"))
    ctx.running["n1"] = set()  # the agent killed what the cancel reached
    for job_id in await _launched_none(ctx):
        await ctx.report("n1", job_id, state="CANCELLED")
    # submitted held, changed, released, a step, cancelled while it runs
    h = await _submit(ctx, hold=True)
    await _ok(await ctx.user.patch(f"/v1/jobs/{h}", json={"time_limit_s": 120,
                                                          "name": "changed"}))
    await _ok(await ctx.user.post(f"/v1/jobs/{h}/release"))
    assert await _launched(ctx, 1) == [h]
    step = await _ok(await ctx.user.post(f"/v1/jobs/{h}/steps", json={
        "argv": ["true"], "working_dir": "/tmp", "io_port": 9, "io_key": "k" * 16}))
    await _ok(await ctx.user.post(f"/v1/jobs/{h}/steps/{step['step_id']}/end",
                                  json={"exit_code": 0}))
    await _ok(await ctx.user.post(f"/v1/jobs/{h}/cancel"))
    await ctx.report("n1", h, state="FAILED", signal=15)
    await _until(ctx, h, "CANCELLED")
    # requeued while it runs: back to the queue, run again
    r = await _submit(ctx)
    assert await _launched(ctx, 1) == [r]
    await _ok(await ctx.user.post(f"/v1/jobs/{r}/requeue"))
    await ctx.report("n1", r, state="FAILED", signal=15)
    assert await _launched(ctx, 1) == [r]
    await ctx.report("n1", r, exit_code=0)
    # preemption: four low jobs fill the node; a high one takes it, they are requeued
    low = [await _submit(ctx) for _ in range(4)]
    assert sorted(await _launched(ctx, 4)) == low
    high = await _submit(ctx, partition="high", cpus_per_node=4)
    for job_id in low:
        await _until(ctx, job_id, "COMPLETING")
    await _ended_together(ctx, low)
    assert await _launched(ctx, 1) == [high]
    await ctx.report("n1", high, exit_code=0)
    assert sorted(await _launched(ctx, 4)) == low
    for job_id in low:
        await ctx.report("n1", job_id, exit_code=0)
    # suspended for a higher tier, resumed once that job has ended
    sus = await _submit(ctx, partition="sus", cpus_per_node=4)
    assert await _launched(ctx, 1) == [sus]
    top = await _submit(ctx, partition="high", cpus_per_node=4)
    await _until(ctx, sus, "SUSPENDED")
    assert await _launched(ctx, 1) == [top]
    await ctx.report("n1", top, exit_code=0)
    await _until(ctx, sus, "RUNNING")
    await ctx.report("n1", sus, exit_code=0)
    # a run failing on its own runs again (its retry count), a run lost with its node's
    # lease is a counted retry, then it completes
    d = await _submit(ctx, retry_count=1)
    assert await _launched(ctx, 1) == [d]
    await ctx.report("n1", d, state="FAILED", exit_code=2)
    assert await _launched(ctx, 1) == [d]
    await ctx.report("n1", d, state="FAILED", signal=9, lost=True, message="lease lapsed")
    assert await _launched(ctx, 1) == [d]
    await ctx.report("n1", d, exit_code=0)
    # a finished job requeued held, then released and run again
    await _ok(await ctx.user.post(f"/v1/jobs/{a}/requeue", json={"hold": True}))
    await _ok(await ctx.user.post(f"/v1/jobs/{a}/release"))
    assert await _launched(ctx, 1) == [a]
    await ctx.report("n1", a, exit_code=0)
    # an allocation its client ends, signalled first
    alloc = await _submit(ctx, interactive=True, argv=[])
    assert await _launched(ctx, 1) == [alloc]
    await _ok(await ctx.user.post(f"/v1/jobs/{alloc}/cancel", json={"signal": 10}))
    await _ok(await ctx.user.post(f"/v1/jobs/{alloc}/end", json={"exit_code": 0}))
    await ctx.report("n1", alloc, state="FAILED", signal=15)
    await _until(ctx, alloc, "COMPLETED")
    # a node lost under a job: a counted retry (it waits for the node, deleted)
    await register(ctx, "n2")
    lost = await _submit(ctx, nodelist=["n2"])
    assert [la["job_id"] for la in await ctx.launches("n2")] == [lost]
    ctx.ctl.nodes["n2"].reachable = False  # as when its lease lapsed
    await _ok(await ctx.user.delete("/v1/nodes/n2"))
    assert (await _until(ctx, lost, "PENDING"))["retries"] == 1
    # reservations: two made, one deleted (jobs without a time limit wait now)
    for name in ("r1", "r2"):
        await _ok(await ctx.user.post("/v1/reservations", json={
            "name": name, "nodes": ["n1"], "t_start": time.time() + 7200,
            "t_end": time.time() + 9000}))
    await _ok(await ctx.user.delete("/v1/reservations/r1"))
    # a pending job cancelled; one left waiting, held
    x = await _submit(ctx, t_begin=time.time() + 3600)
    await _ok(await ctx.user.post(f"/v1/jobs/{x}/cancel"))
    await _submit(ctx, hold=True)
    # submits through the one submit command (services/submission.py): a batch (a held
    # job, an array left waiting, one with an idempotency key, one the site's filter
    # amends, one it refuses, one too big), a retry of the key, a job submitted for
    # another user, one the filter amends alone
    later = time.time() + 3600
    batch = await _ok(await ctx.user.post("/v1/jobs:batch", json={"jobs": [
        {**_BODY, "name": "b-held", "hold": True},
        {**_BODY, "name": "b-array", "array": "0-3", "t_begin": later},
        {**_BODY, "name": "b-key", "t_begin": later, "idempotency_key": "replay-k1"},
        {**_BODY, "name": "amend-me", "hold": True},
        {**_BODY, "name": "refuse-me"},
        {**_BODY, "name": "b-big", "cpus_per_node": 64}]}))
    assert (batch["accepted"], batch["refused"]) == (4, 2), batch
    keyed = batch["results"][2]["id"]
    again = await _ok(await ctx.user.post("/v1/jobs", json={
        **_BODY, "name": "b-key", "t_begin": later, "idempotency_key": "replay-k1"}))
    assert again["id"] == keyed
    amended = await ctx.job(batch["results"][3]["id"])
    assert (amended["name"], amended["spec"]["nice"]) == ("amended", 7)
    other = await _submit(ctx, user="nobody", hold=True)
    assert (await ctx.job(other))["user"] == "nobody"
    await _submit(ctx, name="amend-me", t_begin=later)


_BODY = {"working_dir": "/tmp", "argv": ["true"]}
# the site's submit filter (services/submit_filter.py): amends or refuses by name
FILTER = """
import dataclasses

def check(caller, spec):
    if spec.name == "refuse-me":
        return "not here"
    if spec.name == "amend-me":
        return dataclasses.replace(spec, name="amended", nice=7)
    return None
"""


async def _ended_together(ctx: Ctx, ids: list[int]) -> None:
    """One agent report of several runs killed at once."""
    now = time.time()
    ctx.running["n1"] -= set(ids)
    await _ok(await ctx.agent.post("/agent/v1/report", json={"node": "n1", "reports": [
        {"job_id": i, "state": "FAILED", "signal": 15, "t_start": now - 1, "t_end": now}
        for i in ids]}))


async def _launched_none(ctx: Ctx) -> list[int]:
    """Launches that still come (none should, after a whole array's cancel)."""
    return [la["job_id"] for la in await ctx.launches("n1", rounds=1)]


def _log(ctx: Ctx) -> list[Event]:
    with ctx.ctl.engine.connect() as conn:
        return store_events.events_since(conn, 0, limit=10**9)


def _compare(ctx: Ctx, state: ClusterState) -> list[str]:
    problems: list[str] = []
    with ctx.ctl.engine.connect() as conn:
        rows = {j.id: j for j in store_jobs.load_jobs(conn)}
        rests = {t.id: t for t in store_arrays.query_arrays(conn)}
    if set(rows) != set(state.jobs):
        problems.append(f"jobs: stored {sorted(rows)}, replayed {sorted(state.jobs)}")
    live = ctx.ctl.jobs
    if not set(live) <= set(state.jobs):
        problems.append(f"jobs: live {sorted(live)} not all replayed")
    for job_id, job in sorted(state.jobs.items()):
        if job_id in rows:
            problems += _differences(f"job {job_id} (store)", job, rows[job_id], IMAGE_FIELDS)
        if job_id in live:
            # a pending job's reason and priority are the last scheduling pass's, kept
            # in memory only (its row has them as of its last event, as replay does)
            fields = IMAGE_FIELDS if job.state != JobState.PENDING else \
                tuple(f for f in IMAGE_FIELDS if f not in SCHED_FIELDS)
            problems += _differences(f"job {job_id} (live)", job, live[job_id], fields)
    if set(rests) != set(state.rests):
        problems.append(f"rests: stored {sorted(rests)}, replayed {sorted(state.rests)}")
    for array_id, rest in sorted(state.rests.items()):
        if array_id in rests:
            problems += _differences(f"rest {array_id} (store)", rest.template,
                                     rests[array_id], REST_FIELDS)
        held = ctx.ctl.arrays.rests.get(array_id)
        if held is not None:  # a waiting rest's reason and priority: as a job's
            fields = REST_FIELDS if rest.template.state != JobState.PENDING else \
                tuple(f for f in REST_FIELDS if f not in SCHED_FIELDS)
            problems += _differences(f"rest {array_id} (live)", rest.template,
                                     held.template, fields)
    return problems


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def test_replaying_the_event_log_gives_the_live_state(tmp_path: Path, backend: str) -> None:
    async def scenario(ctx: Ctx) -> None:
        await _workload(ctx)
        await asyncio.sleep(0.3)  # a last scheduling pass, whose reasons are in memory
        log = _log(ctx)
        state = replay(log)
        problems = _compare(ctx, state)
        if state.reservations != ctx.ctl.state.reservations:
            problems.append(f"reservations: replayed {state.reservations}, "
                            f"live {ctx.ctl.state.reservations}")
        assert not problems, "replay differs:\n" + "\n".join(problems)
        # the workload did what it is meant to cover
        kinds = {e.kind for e in log}
        assert {EventKind.REQUEUE, EventKind.HOLD, EventKind.RELEASE, EventKind.UPDATE,
                EventKind.STEP} <= kinds, kinds
        assert {e.data.get("mode") for e in log if e.data.get("action") == "preempt"} == {
            "requeue", "suspend"}
        assert any(e.data.get("action") == "resume" for e in log)
        assert any(j.deep_retries == 1 and j.retries == 1 and j.state == JobState.COMPLETED
                   for j in state.jobs.values())
        assert list(state.reservations) == ["r2"]
        states = {str(j.state) for j in state.jobs.values()}
        assert {"COMPLETED", "FAILED", "CANCELLED", "HELD"} <= states, states
        assert any(j.array_job_id is not None for j in state.jobs.values())
        assert any(j.restarts >= 1 for j in state.jobs.values())
        assert any(j.retries == 1 for j in state.jobs.values())
        assert EventKind.SIGNAL in kinds
        assert {str(r.template.state) for r in state.rests.values()} == {"CANCELLED",
                                                                           "PENDING"}
        assert {"amended", "b-held", "b-key"} <= {j.spec.name for j in state.jobs.values()}
        assert any(j.user == "nobody" for j in state.jobs.values())
    (tmp_path / "filter.py").write_text(FILTER)
    config = f'[controller]\nsubmit_filter = "{tmp_path}/filter.py:check"\n{CONFIG}'
    run(tmp_path, config, {"n1": {"cpus": 4}}, scenario, backend=backend)
