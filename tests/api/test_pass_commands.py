"""What a scheduling pass decides, as command handlers (services/pass_commands.py),
in-process on a fake clock: a start returns the RUNNING event and the launch order
and changes nothing; applying the event moves the job, and replaying the log gives
the same job. Also the ends of jobs whose dependency can never be satisfied and the
holds of jobs the core fails on."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from corral.model.event import Event, EventKind
from corral.model.intent import StopIntent
from corral.model.job import Job, JobSpec
from corral.model.node import Node
from corral.model.record import IMAGE_FIELDS, encode
from corral.model.states import JobState
from corral.sched.types import Start
from corral.services import pass_commands as starts
from corral.services.state import ClusterState, apply, replay

NOW = 2_000_000.0


@pytest.fixture(autouse=True)
def no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> float:
        raise AssertionError("the start handler read the clock")
    monkeypatch.setattr(time, "time", refuse)


def _job(job_id: int = 7, *, nodes: int = 1, cpus: int = 2, gpus: int = 0,
         state: JobState = JobState.PENDING) -> Job:
    spec = JobSpec(name=f"j{job_id}", working_dir="/tmp", argv=("true",), nodes=nodes,
                   cpus_per_node=cpus, gpus_per_node=gpus)
    return Job(id=job_id, spec=spec, user="alice", uid=1001, gid=1001, state=state,
               t_submit=NOW - 50, partition="main", time_limit_s=60, mem_mb_per_node=100)


def _nodes(*names: str, cpus: int = 4, gpus: int = 0) -> dict[str, Node]:
    return {n: Node(name=n, cpus=cpus, mem_mb=1000, gpus=gpus, reachable=True) for n in names}


def _order(job: Job) -> dict[str, Any]:
    """What the launch order is made of here: the job as it will be once started."""
    return {"job_id": job.id, "state": str(job.state), "nodes": list(job.nodes),
            "gpu_ids": {k: list(v) for k, v in job.gpu_ids.items()},
            "cpu_ids": {k: list(v) for k, v in job.cpu_ids.items()}, "t_start": job.t_start}


def test_a_start_is_the_running_event_and_the_batch_nodes_order_and_changes_nothing() -> None:
    job = _job(nodes=2)
    before = encode(job, IMAGE_FIELDS)
    nodes = _nodes("n1", "n2")
    placed = Start(7, ("n2", "n1"), placed=(("n2", (0, 1), ()), ("n1", (2, 3), ())))
    out = starts.start(job, placed, nodes, NOW, _order)
    assert out is not None and out.answer == "RUNNING"
    assert encode(job, IMAGE_FIELDS) == before  # the handler changed nothing
    assert all(n.cpus_used == 0 and not n.jobs for n in nodes.values())
    (ev,) = out.events
    assert (ev.from_state, ev.to_state, ev.t) == ("PENDING", "RUNNING", NOW)
    assert ev.data["nodes"] == ["n2", "n1"]
    (order,) = out.orders
    assert order.node == "n2"  # the batch script runs on the first node
    assert order.body == {"job_id": 7, "state": "RUNNING", "nodes": ["n2", "n1"],
                          "gpu_ids": {}, "cpu_ids": {"n2": [0, 1], "n1": [2, 3]},
                          "t_start": NOW}
    state = ClusterState(jobs={7: job})
    apply(state, ev)
    assert (job.state, job.nodes, job.t_start) == (JobState.RUNNING, ("n2", "n1"), NOW)
    assert dict(job.cpu_ids) == {"n2": (0, 1), "n1": (2, 3)}
    assert job.intent is None


def test_replaying_the_submit_and_the_start_gives_the_started_job() -> None:
    job = _job()
    submit = Event(seq=1, job_id=7, t=NOW - 50, kind=EventKind.SUBMIT, to_state="PENDING",
                   data={"set": encode(job, IMAGE_FIELDS)})
    out = starts.start(job, Start(7, ("n1",)), _nodes("n1"), NOW, _order)
    assert out is not None
    state = ClusterState(jobs={7: job})
    apply(state, out.events[0])
    log = [submit, dataclasses.replace(out.events[0], seq=2)]
    again = replay(log).jobs[7]
    assert encode(again, IMAGE_FIELDS) == encode(job, IMAGE_FIELDS)


@pytest.mark.parametrize("change", ["drained", "unreachable", "full", "gone", "started",
                                    "too_few"])
def test_nodes_that_changed_while_the_pass_ran_start_nothing(change: str) -> None:
    job = _job(cpus=2)
    nodes = _nodes("n1", "n2")
    names: tuple[str, ...] = ("n1",)
    if change == "drained":
        nodes["n1"].drain = True
    elif change == "unreachable":
        nodes["n1"].reachable = False
    elif change == "full":
        nodes["n1"].cpus_used = 3
    elif change == "gone":
        del nodes["n1"]
    elif change == "started":
        job = _job(state=JobState.RUNNING)
    else:
        names = ()
    assert starts.start(job, Start(7, names), nodes, NOW, _order) is None


def test_gpus_of_nodes_the_core_did_not_place_are_chosen_among_the_free() -> None:
    job = _job(gpus=2)
    nodes = _nodes("g1", gpus=4)
    nodes["g1"].gpu_ids_used = {0, 2}
    nodes["g1"].gpus_used = 2
    out = starts.start(job, Start(7, ("g1",)), nodes, NOW, _order)
    assert out is not None
    assert out.orders[0].body["gpu_ids"] == {"g1": [1, 3]}
    assert nodes["g1"].gpu_ids_used == {0, 2}  # taken when the event is applied


def test_gpus_the_core_placed_are_kept() -> None:
    job = _job(gpus=1)
    out = starts.start(job, Start(7, ("g1",), placed=(("g1", (0,), (3,)),)),
                       _nodes("g1", gpus=4), NOW, _order)
    assert out is not None
    assert out.orders[0].body["gpu_ids"] == {"g1": [3]}
    assert out.orders[0].body["cpu_ids"] == {"g1": [0]}


def test_an_exclusive_job_needs_a_whole_node() -> None:
    spec = dataclasses.replace(_job().spec, exclusive=True)
    job = dataclasses.replace(_job(), spec=spec)
    nodes = _nodes("n1")
    nodes["n1"].cpus_used = 1
    assert starts.start(job, Start(7, ("n1",)), nodes, NOW, _order) is None
    nodes["n1"].cpus_used = 0
    assert starts.start(job, Start(7, ("n1",)), nodes, NOW, _order) is not None


def test_a_job_whose_dependency_can_never_be_satisfied_fails_now() -> None:
    job = _job()
    out = starts.never_satisfiable(job, NOW)
    (ev,) = out.events
    assert (ev.from_state, ev.to_state, out.answer) == ("PENDING", "FAILED", "FAILED")
    assert ev.data["why"] == starts.NEVER_SATISFIABLE
    assert job.state == JobState.PENDING  # until the event is applied
    apply(ClusterState(jobs={7: job}), ev)
    assert (job.state, job.t_end) == (JobState.FAILED, NOW)
    assert starts.never_satisfiable(job, NOW + 1).events == ()  # only a pending job


def test_a_job_the_core_fails_on_is_held_with_the_error_as_its_reason() -> None:
    pending, held = _job(1), _job(2, state=JobState.HELD)
    state = ClusterState(jobs={1: pending, 2: held})
    for job in (pending, held):
        out = starts.scheduler_hold(job, "division by zero", NOW)
        (ev,) = out.events
        assert ev.data["by"] == "scheduler"
        apply(state, ev)
        assert job.state == JobState.HELD
        assert job.intent == StopIntent.HOLD_SCHEDULER
        assert job.reason.endswith(": division by zero")
    assert starts.scheduler_hold(_job(3, state=JobState.RUNNING), "x", NOW).events == ()
