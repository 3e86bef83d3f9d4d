"""The command handlers (services/commands.py) in-process, on a fake clock: no
controller, no store, no processes, no sleeps. Each returns events and agent orders
and changes nothing; applying the events (services/state.py) is what moves the
state, and replaying them gives the same state."""

from __future__ import annotations

import dataclasses
import signal
import time
from typing import Any

import pytest

from corral.model.agent_messages import AgentJobReport
from corral.model.errors import Conflict, NotFound, PermissionDenied
from corral.model.event import Event, EventKind
from corral.model.intent import REASONS, StopIntent
from corral.model.job import Job, JobSpec
from corral.model.record import IMAGE_FIELDS, encode
from corral.model.roles import Role
from corral.model.states import JobState
from corral.services import array_commands, commands, runs
from corral.services.access import Access
from corral.services.commands import Outcome, Rules
from corral.services.identity import Caller
from corral.services.state import ClusterState, apply, replay
from corral.services.submit import Resolved

NOW = 1_000_000.0  # the fake clock: every handler is given the time
ALICE = Caller(uid=1001, user="alice", gid=1001)
BOB = Caller(uid=1002, user="bob", gid=1002)
OPERATOR = Caller(uid=2000, user="op", gid=2000, role=Role.OPERATOR)
ADMIN = Caller(uid=0, user="root", gid=0, role=Role.ADMIN)
RULES = Rules(Access(), kill_grace_s=7.0)


@pytest.fixture(autouse=True)
def no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler that read the clock would fail: the time is the caller's `now`."""
    def refuse() -> float:
        raise AssertionError("a command handler read the clock")
    monkeypatch.setattr(time, "time", refuse)


def _job(job_id: int, state: JobState, owner: Caller = ALICE, **kw: Any) -> Job:
    spec = JobSpec(name=f"j{job_id}", working_dir="/tmp", argv=("true",),
                   notify=kw.pop("notify", False))
    return Job(id=job_id, spec=spec, user=owner.user, uid=owner.uid, gid=owner.gid,
               state=state, t_submit=NOW - 100, partition="main", time_limit_s=60,
               mem_mb_per_node=None, **kw)


def _state(*jobs: Job) -> ClusterState:
    return ClusterState(jobs={j.id: j for j in jobs})


def _images(state: ClusterState) -> dict[int, dict[str, Any]]:
    return {i: encode(j, IMAGE_FIELDS) for i, j in state.jobs.items()}


def _run(state: ClusterState, out: Outcome, log: list[Event]) -> Outcome:
    """What the runtime does with an outcome, less the store: apply each event."""
    for made in out.events:
        ev = dataclasses.replace(made, seq=len(log) + 1)
        apply(state, ev)
        log.append(ev)
    return out


def test_handlers_change_nothing_and_events_do() -> None:
    state = _state(_job(1, JobState.PENDING), _job(2, JobState.RUNNING, nodes=("n1", "n2")))
    before = _images(state)
    outs = [commands.cancel(state, RULES, ALICE, 1, NOW),
            commands.cancel(state, RULES, ALICE, 2, NOW),
            commands.hold(state, RULES, ALICE, 1, NOW)]
    assert _images(state) == before  # only applying the events moves the state
    assert all(o.events for o in outs)
    log: list[Event] = []
    _run(state, outs[0], log)
    assert state.jobs[1].state == JobState.CANCELLED
    assert (state.jobs[1].t_end, state.jobs[1].cancelled_by_uid) == (NOW, ALICE.uid)
    # built on the state before (PENDING): refused, though CANCELLED -> HELD is a move
    # the table allows (a requeue-hold)
    with pytest.raises(Conflict, match="job 1: is CANCELLED, not PENDING"):
        _run(state, outs[2], log)


def test_cancel_a_waiting_job_ends_it_now() -> None:
    state = _state(_job(1, JobState.HELD, intent=StopIntent.HOLD_USER, reason="JobHeldUser"))
    out = commands.cancel(state, RULES, ALICE, 1, NOW)
    assert out.orders == () and out.answer == "CANCELLED"
    [ev] = out.events
    assert (ev.kind, ev.from_state, ev.to_state, ev.t) == (EventKind.STATE, "HELD",
                                                          "CANCELLED", NOW)
    _run(state, out, [])
    job = state.jobs[1]
    assert (job.state, job.intent, job.reason, job.t_end) == (JobState.CANCELLED, None,
                                                              "None", NOW)
    again = commands.cancel(state, RULES, ALICE, 1, NOW + 1)
    assert (again.events, again.answer) == ((), "CANCELLED")


@pytest.mark.parametrize(("notify", "signum"), [(False, signal.SIGTERM),
                                                (True, signal.SIGUSR2)])
def test_cancel_a_running_job_orders_its_agents_to_kill_it(notify: bool,
                                                           signum: int) -> None:
    state = _state(_job(1, JobState.RUNNING, nodes=("n1", "n2"), notify=notify))
    out = commands.cancel(state, RULES, ALICE, 1, NOW)
    assert [(o.node, o.body) for o in out.orders] == [
        (n, {"kind": "cancel", "job_id": 1, "signal": int(signum), "grace_s": 7.0})
        for n in ("n1", "n2")]
    _run(state, out, [])
    job = state.jobs[1]
    assert (job.state, job.intent, job.reason) == (JobState.COMPLETING, StopIntent.CANCEL,
                                                   "Cancelled")
    # cancelled again while it is being stopped: an update, the orders again
    out = commands.cancel(state, RULES, ALICE, 1, NOW + 1)
    assert [e.kind for e in out.events] == [EventKind.UPDATE] and len(out.orders) == 2


def test_the_one_authorization_point_decides() -> None:
    state = _state(_job(1, JobState.PENDING), _job(2, JobState.HELD,
                                                   intent=StopIntent.HOLD_ADMIN))
    with pytest.raises(PermissionDenied, match="cancel job 1 of alice: needs operator"):
        commands.cancel(state, RULES, BOB, 1, NOW)
    assert commands.cancel(state, RULES, OPERATOR, 1, NOW).events
    with pytest.raises(PermissionDenied, match="needs operator"):
        commands.release(state, RULES, ALICE, 2, NOW)  # an operator's hold
    assert commands.release(state, RULES, OPERATOR, 2, NOW).events
    private = Rules(Access(private_jobs=True))
    with pytest.raises(NotFound, match="job 1: no such job"):  # not seen, not refused
        commands.hold(state, private, BOB, 1, NOW)
    with pytest.raises(NotFound):
        commands.cancel(state, RULES, ALICE, 99, NOW)


def test_hold_and_release() -> None:
    state = _state(_job(1, JobState.PENDING), _job(2, JobState.RUNNING, nodes=("n1",)))
    log: list[Event] = []
    _run(state, commands.hold(state, RULES, OPERATOR, 1, NOW), log)
    assert (state.jobs[1].state, state.jobs[1].intent) == (JobState.HELD,
                                                           StopIntent.HOLD_ADMIN)
    assert commands.hold(state, RULES, ALICE, 1, NOW).events == ()  # held already
    with pytest.raises(Conflict, match="only a pending job can be held"):
        commands.hold(state, RULES, ALICE, 2, NOW)
    _run(state, commands.release(state, RULES, OPERATOR, 1, NOW + 5), log)
    job = state.jobs[1]
    assert (job.state, job.intent, job.reason) == (JobState.PENDING, None, "None")
    with pytest.raises(Conflict, match="only a held job can be released"):
        commands.release(state, RULES, ALICE, 1, NOW)
    _run(state, commands.hold(state, RULES, ALICE, 1, NOW + 6), log)
    assert state.jobs[1].intent == StopIntent.HOLD_USER
    assert [e.t for e in log] == [NOW, NOW + 5, NOW + 6]


def test_signal_a_running_job() -> None:
    state = _state(_job(1, JobState.RUNNING, nodes=("n1",)), _job(2, JobState.PENDING))
    out = commands.signal(state, RULES, ALICE, 1, 10, NOW, target="batch")
    assert [(o.node, o.body) for o in out.orders] == [("n1", {
        "kind": "signal", "job_id": 1, "signal": 10, "target": "batch", "step_id": None})]
    assert [e.kind for e in out.events] == [EventKind.SIGNAL]
    assert commands.signal(state, RULES, ALICE, 2, 10, NOW).orders == ()


def test_replaying_the_handlers_events_gives_the_same_state() -> None:
    jobs = [_job(1, JobState.PENDING), _job(2, JobState.RUNNING, nodes=("n1",)),
            _job(3, JobState.PENDING)]
    state = _state(*(dataclasses.replace(j) for j in jobs))
    log: list[Event] = [Event(seq=i, job_id=j.id, t=j.t_submit, kind=EventKind.SUBMIT,
                              to_state=str(j.state), data={"set": encode(j, IMAGE_FIELDS)})
                        for i, j in enumerate(jobs, 1)]
    steps = [lambda s: commands.hold(s, RULES, ALICE, 1, NOW),
             lambda s: commands.cancel(s, RULES, ALICE, 2, NOW + 1),
             lambda s: commands.release(s, RULES, ALICE, 1, NOW + 2),
             lambda s: commands.cancel(s, RULES, OPERATOR, 3, NOW + 3)]
    for step in steps:
        _run(state, step(state), log)
    assert _images(replay(log)) == _images(state)


def test_requeue() -> None:
    state = _state(_job(1, JobState.RUNNING, nodes=("n1",)),
                   _job(2, JobState.COMPLETED, nodes=("n1",), t_start=NOW - 50,
                        t_end=NOW - 10, exit_code=0, restarts=1),
                   _job(3, JobState.PENDING))
    log: list[Event] = []
    out = _run(state, commands.requeue(state, RULES, ALICE, 1, NOW, hold=True), log)
    assert [o.body["kind"] for o in out.orders] == ["cancel"]
    job = state.jobs[1]  # still running until its agent reports: its intent says why
    assert (job.state, job.intent, job.reason) == (JobState.RUNNING,
                                                   StopIntent.REQUEUE_HOLD, "RequeueHold")
    out = _run(state, commands.requeue(state, RULES, ALICE, 2, NOW), log)
    assert (out.orders, out.answer) == ((), "PENDING")
    job = state.jobs[2]
    assert (job.state, job.restarts, job.nodes, job.t_start, job.t_end, job.exit_code) == (
        JobState.PENDING, 2, (), None, None, None)
    assert log[-1].kind == EventKind.REQUEUE and log[-1].data["why"] == "requeued by alice"
    with pytest.raises(Conflict, match="job 3: is PENDING, not running or finished"):
        commands.requeue(state, RULES, ALICE, 3, NOW)
    with pytest.raises(PermissionDenied, match="requeue job 2 of alice: needs operator"):
        commands.requeue(state, RULES, BOB, 2, NOW)


def _resolver(job: Job, spec: JobSpec) -> Resolved:
    """The site's resolution of a changed spec, as a rule: the time limit as asked
    (else the partition's 60 s), 100 MB per CPU."""
    return Resolved(spec=spec, partition=spec.partition or "main",
                    time_limit_s=spec.time_limit_s or 60,
                    mem_mb_per_node=100 * spec.cpus_per_node)


def test_update() -> None:
    state = _state(_job(1, JobState.PENDING), _job(2, JobState.RUNNING, nodes=("n1",)))
    log: list[Event] = []
    out = commands.update(state, RULES, ALICE, 1, {"name": "x", "cpus_per_node": 2}, NOW,
                          _resolver)
    assert state.jobs[1].spec.name == "j1"  # nothing changed until applied
    _run(state, out, log)
    job = state.jobs[1]
    assert (job.spec.name, job.spec.cpus_per_node, job.mem_mb_per_node) == ("x", 2, 200)
    assert log[0].data["fields"] == {"name": "x", "cpus_per_node": 2}
    with pytest.raises(Conflict, match="only time_limit_s, name and nice"):
        commands.update(state, RULES, ALICE, 2, {"cpus_per_node": 2}, NOW, _resolver)
    with pytest.raises(PermissionDenied, match="time_limit_s: raise it above"):
        commands.update(state, RULES, ALICE, 2, {"time_limit_s": 120}, NOW, _resolver)
    _run(state, commands.update(state, RULES, OPERATOR, 2, {"time_limit_s": 120}, NOW,
                                _resolver), log)
    assert state.jobs[2].time_limit_s == 120
    with pytest.raises(Exception, match="field 'user' cannot be changed"):
        commands.update(state, RULES, ALICE, 1, {"user": "bob"}, NOW, _resolver)


# ---- reservations ------------------------------------------------------------------
def _res(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "nodes": ["n1"], "t_start": NOW + 3600, "t_end": NOW + 7200,
            "users": [], "accounts": [], "maintenance": False, **kw}


NODES = frozenset({"n1", "n2"})


def test_two_concurrent_creates_of_one_name_one_is_refused_not_lost() -> None:
    state = ClusterState()
    # both decided on the same state, before either is applied
    first = commands.create_reservation(state, ADMIN, _res("a"), NOW, NODES)
    second = commands.create_reservation(state, ADMIN, _res("a", nodes=["n2"]), NOW, NODES)
    log: list[Event] = []
    _run(state, first, log)
    with pytest.raises(Conflict, match="reservation 'a' exists already"):
        _run(state, second, log)
    assert state.reservations["a"]["nodes"] == ["n1"]  # the first stays, whole
    # decided after the first was applied (as the runtime does): refused at once
    with pytest.raises(Conflict):
        commands.create_reservation(state, ADMIN, _res("a"), NOW, NODES)
    assert replay(log).reservations == state.reservations


def test_concurrent_changes_of_different_reservations_are_all_kept() -> None:
    state = ClusterState()
    log: list[Event] = []
    _run(state, commands.create_reservation(state, ADMIN, _res("a"), NOW, NODES), log)
    outs = [commands.create_reservation(state, ADMIN, _res("b"), NOW, NODES),
            commands.create_reservation(state, ADMIN, _res("c"), NOW, NODES),
            commands.delete_reservation(state, ADMIN, "a", NOW)]
    for out in outs:
        _run(state, out, log)
    assert sorted(state.reservations) == ["b", "c"]
    deletes = [commands.delete_reservation(state, ADMIN, "b", NOW) for _ in range(2)]
    _run(state, deletes[0], log)
    with pytest.raises(NotFound, match="reservation 'b'"):
        _run(state, deletes[1], log)
    assert sorted(state.reservations) == ["c"]
    assert replay(log).reservations == state.reservations


def test_reservation_requests_are_checked() -> None:
    state = ClusterState()
    with pytest.raises(PermissionDenied, match="create reservation a: needs admin"):
        commands.create_reservation(state, OPERATOR, _res("a"), NOW, NODES)
    with pytest.raises(Exception, match="ends before it starts"):
        commands.create_reservation(state, ADMIN, _res("a", t_end=NOW), NOW, NODES)
    with pytest.raises(Exception, match="its window is in the past"):
        commands.create_reservation(state, ADMIN, _res("a"), NOW + 8000, NODES)
    with pytest.raises(NotFound, match="no node named 'n9'"):
        commands.create_reservation(state, ADMIN, _res("a", nodes=["n9"]), NOW, NODES)
    with pytest.raises(NotFound):
        commands.delete_reservation(state, ADMIN, "a", NOW)


def test_a_jobs_image_is_every_stored_field() -> None:
    """model/record.py's image (written out for speed) agrees with encode."""
    from corral.model.record import image
    job = _job(7, JobState.RUNNING, nodes=("n1", "n2"), intent=StopIntent.CANCEL,
               gpu_ids={"n1": (0, 1)}, exit_code=3, restarts=2)
    assert image(job) == encode(job, IMAGE_FIELDS)
    assert set(image(job, spec=False)) == set(IMAGE_FIELDS) - {"spec"}


# ---- the ends of runs (services/runs.py) -------------------------------------------
def _report(job_id: int, state: str = "COMPLETED", **kw: Any) -> AgentJobReport:
    return AgentJobReport(job_id=job_id, state=state, **kw)  # type: ignore[arg-type]


def _running(job_id: int, intent: StopIntent | None = None, **kw: Any) -> Job:
    return _job(job_id, JobState.RUNNING if intent is None or intent.requeues
                or intent == StopIntent.PROLOG_FAILED_ELSEWHERE else JobState.COMPLETING,
                nodes=("n1", "n2"), t_start=NOW - 50, intent=intent,
                reason="None" if intent is None else REASONS[intent], **kw)


RULES3 = Rules(Access(), kill_grace_s=7.0, max_retries=3)


@pytest.mark.parametrize(("intent", "reported", "state", "exit_code"), [
    (None, "COMPLETED", JobState.COMPLETED, 0),
    (None, "FAILED", JobState.FAILED, 3),
    (StopIntent.CANCEL, "FAILED", JobState.CANCELLED, 3),
    (StopIntent.CANCEL, "COMPLETED", JobState.COMPLETED, 0),  # it had finished already
    (StopIntent.PREEMPT_CANCEL, "FAILED", JobState.PREEMPTED, 3),
    (StopIntent.ALLOCATION_ENDED, "FAILED", JobState.FAILED, 2),  # its client's code
])
def test_a_run_that_ended_is_read_against_its_intent(
        intent: StopIntent | None, reported: str, state: JobState, exit_code: int) -> None:
    st = _state(_running(1, intent))
    before = _images(st)
    r = _report(1, reported, exit_code=0 if reported == "COMPLETED" else 3,
                t_end=NOW - 1, cpu_time_s=4.5, max_rss_mb=12.0, message="")
    out = runs.run_ended(st, RULES3, "n1", r, NOW, end_code=2)
    assert _images(st) == before  # the handler changes nothing
    assert out.orders == () and out.answer == str(state)
    [ev] = out.events
    assert (ev.kind, ev.from_state, ev.to_state, ev.t) == (EventKind.STATE, str(
        JobState.RUNNING if intent is None else JobState.COMPLETING), str(state), NOW)
    assert runs.ended_here(out, "n1")
    log: list[Event] = []
    _run(st, out, log)
    job = st.jobs[1]
    assert (job.state, job.exit_code, job.intent, job.reason, job.t_end, job.cpu_time_s) == (
        state, exit_code, None, "None", NOW - 1, 4.5)


@pytest.mark.parametrize(("intent", "state", "why"), [
    (StopIntent.REQUEUE, JobState.PENDING, "requeue requested"),
    (StopIntent.REQUEUE_HOLD, JobState.HELD, "requeue requested"),
    (StopIntent.PREEMPT_REQUEUE, JobState.PENDING, "preempted"),
])
def test_a_run_stopped_to_be_requeued_goes_back_to_the_queue(
        intent: StopIntent, state: JobState, why: str) -> None:
    st = _state(_running(1, intent, restarts=2, exit_code=None))
    out = runs.run_ended(st, RULES3, "n2", _report(1, "FAILED", signal=15, cpu_time_s=1.0),
                         NOW)
    [ev] = out.events
    assert (ev.kind, ev.data["why"]) == (EventKind.REQUEUE, why)
    assert not runs.ended_here(out, "n2")
    _run(st, out, [])
    job = st.jobs[1]
    assert (job.state, job.restarts, job.nodes, job.t_start, job.signal, job.cpu_time_s) == (
        state, 3, (), None, None, 1.0)
    assert job.intent == (StopIntent.HOLD_USER if state == JobState.HELD else None)


def test_reports_of_another_run_node_or_a_finished_job_change_nothing() -> None:
    st = _state(_running(1, restarts=1), _job(2, JobState.COMPLETED, nodes=("n1",)))
    assert runs.run_ended(st, RULES3, "n3", _report(1), NOW).events == ()  # not there
    assert runs.run_ended(st, RULES3, "n1", _report(1, run=0), NOW).events == ()  # earlier
    assert runs.run_ended(st, RULES3, "n1", _report(2), NOW).events == ()  # final
    assert runs.run_ended(st, RULES3, "n1", _report(9), NOW).events == ()  # unknown
    assert runs.run_ended(st, RULES3, "n1", _report(1, run=1), NOW).events


def test_a_failed_prolog_is_retried_until_the_limit() -> None:
    st = _state(_running(1), _running(2, retries=3))
    log: list[Event] = []
    r = _report(1, "FAILED", exit_code=1, prolog_failed=True, message="no scratch")
    out = _run(st, runs.run_ended(st, RULES3, "n1", r, NOW), log)
    assert (st.jobs[1].state, st.jobs[1].retries) == (JobState.PENDING, 1)
    assert out.events[0].data == {**out.events[0].data, "why": "no scratch", "retry": 1,
                                  "max_retries": 3}
    out = _run(st, runs.run_ended(st, RULES3, "n1", _report(2, "FAILED", exit_code=1,
                                                             prolog_failed=True), NOW), log)
    job = st.jobs[2]  # no retry left: it ends FAILED, and its event says why
    assert (job.state, job.exit_code, job.t_end) == (JobState.FAILED, 1, NOW)
    assert out.events[0].data["not_requeued"] == "retry limit reached (3 of 3)"
    assert _images(replay(_submits(_running(1), _running(2, retries=3)) + log)) == _images(st)


def test_a_prolog_failed_on_another_node_kills_the_run_for_a_retry() -> None:
    st = _state(_running(1, restarts=1))
    assert runs.prolog_failed_elsewhere(st, RULES3, "n2", 1, 0, "m", NOW).events == ()
    assert runs.prolog_failed_elsewhere(st, RULES3, "n9", 1, 1, "m", NOW).events == ()
    out = _run(st, runs.prolog_failed_elsewhere(st, RULES3, "n2", 1, 1, "no /scratch", NOW),
               [])
    assert [(o.node, o.body["kind"]) for o in out.orders] == [("n1", "cancel"),
                                                             ("n2", "cancel")]
    assert st.jobs[1].intent == StopIntent.PROLOG_FAILED_ELSEWHERE
    out = runs.run_ended(st, RULES3, "n1", _report(1, "FAILED", signal=15), NOW,
                         elsewhere="no /scratch")
    [ev] = out.events
    assert (ev.to_state, ev.data["why"], ev.data["retry"]) == ("PENDING", "no /scratch", 1)


def test_a_job_failing_on_its_own_runs_again_by_its_retry_count() -> None:
    job = _running(1)
    job.spec = dataclasses.replace(job.spec, retry_count=1)
    st = _state(job)
    r = _report(1, "FAILED", exit_code=4)
    _run(st, runs.run_ended(st, RULES3, "n1", r, NOW), [])
    assert (st.jobs[1].state, st.jobs[1].deep_retries) == (JobState.PENDING, 1)
    st.jobs[1].state, st.jobs[1].nodes = JobState.RUNNING, ("n1",)  # (as a start does)
    out = runs.run_ended(st, RULES3, "n1", r, NOW)
    assert (out.events[0].to_state, out.events[0].data["not_retried"]) == (
        "FAILED", "retry count reached (1 of 1)")


def test_a_run_lost_with_its_node_is_retried_or_ends_node_fail() -> None:
    st = _state(_running(1), _running(2, retries=3), _running(3, StopIntent.CANCEL))
    before = _images(st)
    outs = [runs.run_lost(st, RULES3, i, "node n1 lost", NOW, kill_elsewhere="n1")
            for i in (1, 2, 3)]
    assert _images(st) == before
    assert [o.answer for o in outs] == ["PENDING", "NODE_FAIL", "NODE_FAIL"]  # a cancel's
    assert [(o.node, o.body) for o in outs[0].orders] == [  # the job's other node
        ("n2", {"kind": "cancel", "job_id": 1, "signal": 9, "grace_s": 0})]
    assert outs[0].events[0].data["why"] == "NODE_FAIL: node n1 lost"
    assert runs.run_lost(st, RULES3, 1, "x", NOW).orders == ()
    log: list[Event] = []
    for out in outs:
        _run(st, out, log)
    assert (st.jobs[1].retries, st.jobs[2].t_end, st.jobs[3].intent) == (1, NOW, None)
    assert runs.run_lost(st, RULES3, 2, "again", NOW).events == ()  # ended already


# ---- preemption (services/commands.py) ---------------------------------------------
PREEMPTING = Rules(Access(), kill_grace_s=7.0,
                   preempt_modes={"main": "requeue", "low": "cancel", "sus": "suspend",
                                  "off": "off"}, qos_preempt_modes={"scavenger": "cancel"})


def test_preemption_as_the_victims_partition_or_qos_says() -> None:
    jobs = [_job(i, JobState.RUNNING, nodes=("n1",)) for i in range(1, 6)]
    jobs[1].partition, jobs[2].partition, jobs[3].partition = "low", "sus", "off"
    jobs[4].partition = "off"
    jobs[4].spec = dataclasses.replace(jobs[4].spec, qos="scavenger")
    st = _state(*jobs, _job(6, JobState.PENDING), _job(7, JobState.RUNNING, nodes=("n1",)))
    st.jobs[7].spec = dataclasses.replace(st.jobs[7].spec, requeue=False)
    before = _images(st)
    outs = {i: commands.preempt(st, PREEMPTING, i, 6, NOW) for i in range(1, 8)}
    assert _images(st) == before
    assert {i: o.answer for i, o in outs.items()} == {
        1: "COMPLETING", 2: "COMPLETING", 3: "SUSPENDED", 4: "", 5: "COMPLETING", 6: "",
        7: "COMPLETING"}
    log: list[Event] = []
    for out in outs.values():
        _run(st, out, log)
    assert [st.jobs[i].intent for i in (1, 2, 5, 7)] == [
        StopIntent.PREEMPT_REQUEUE, StopIntent.PREEMPT_CANCEL, StopIntent.PREEMPT_CANCEL,
        StopIntent.PREEMPT_CANCEL]  # 7 may not be requeued
    assert outs[1].orders[0].body == {"kind": "cancel", "job_id": 1, "signal": 15,
                                      "grace_s": 7.0}
    assert outs[3].orders[0].body == {"kind": "signal", "job_id": 3,
                                      "signal": int(signal.SIGSTOP)}
    assert outs[3].events[0].data == {**outs[3].events[0].data, "action": "preempt",
                                      "mode": "suspend", "for": 6}
    assert commands.preempt(st, PREEMPTING, 1, 6, NOW).events == ()  # no longer running


def test_a_suspended_job_resumes_once_its_preemptor_has_ended() -> None:
    st = _state(_job(1, JobState.SUSPENDED, nodes=("n1",)),
                _job(2, JobState.RUNNING, nodes=("n1",)))
    assert commands.resume(st, 1, 2, NOW).events == ()  # its preemptor still runs
    st.jobs[2].state = JobState.COMPLETED
    out = commands.resume(st, 1, 2, NOW)
    assert [(o.node, o.body["signal"]) for o in out.orders] == [("n1", int(signal.SIGCONT))]
    _run(st, out, [])
    assert st.jobs[1].state == JobState.RUNNING
    assert commands.resume(st, 1, None, NOW).events == ()  # not suspended any more
    st.jobs[1].state = JobState.SUSPENDED
    assert commands.resume(st, 1, 99, NOW).events  # its preemptor has left the queue


def _submits(*jobs: Job) -> list[Event]:
    return [Event(seq=-len(jobs) + i, job_id=j.id, t=j.t_submit, kind=EventKind.SUBMIT,
                  to_state=str(j.state), data={"set": encode(j, IMAGE_FIELDS)})
            for i, j in enumerate(jobs)]


def test_an_allocation_ended_by_its_client() -> None:
    alloc = _job(1, JobState.RUNNING, nodes=("n1",))
    alloc.spec = dataclasses.replace(alloc.spec, interactive=True)
    st = _state(alloc, _job(2, JobState.RUNNING, nodes=("n1",)))
    with pytest.raises(Conflict, match="job 2: is a batch job"):
        commands.end_allocation(st, RULES, ALICE, 2, 0, NOW)
    with pytest.raises(PermissionDenied):
        commands.end_allocation(st, RULES, BOB, 1, 0, NOW)
    out = _run(st, commands.end_allocation(st, RULES, ALICE, 1, 5, NOW), [])
    assert [o.body["kind"] for o in out.orders] == ["cancel"]
    assert (st.jobs[1].state, st.jobs[1].intent) == (JobState.COMPLETING,
                                                     StopIntent.ALLOCATION_ENDED)
    assert commands.end_allocation(st, RULES, ALICE, 1, 5, NOW).events == ()
    out = runs.run_ended(st, RULES, "n1", _report(1, "FAILED", signal=15), NOW, end_code=5)
    assert (out.answer, out.events[0].data["exit_code"]) == ("FAILED", 5)


# ---- whole arrays (services/array_commands.py) -------------------------------------
def _array(state: JobState = JobState.PENDING, **kw: Any) -> Job:
    t = _job(100, state, **kw)
    t.spec = dataclasses.replace(t.spec, array="0-9")
    return t


def _rest_replayed(arr: array_commands.ArrayAt, log: list[Event]) -> ClusterState:
    """A state holding the array's rest as its submit made it, with `log` replayed."""
    assert arr.rest is not None
    sub = Event(seq=-100, job_id=None, t=NOW - 100, kind=EventKind.SUBMIT, data={
        "array_id": arr.array_id, "tasks": 10, "set": encode(arr.rest, IMAGE_FIELDS)})
    return replay([sub, *(e for e in log if e.job_id is None)])


def test_an_array_is_cancelled_as_a_whole() -> None:
    running = _job(101, JobState.RUNNING, nodes=("n1",), array_job_id=100)
    held = _job(102, JobState.HELD, array_job_id=100, intent=StopIntent.HOLD_USER)
    done = _job(103, JobState.COMPLETED, array_job_id=100)
    st = _state(running, held, done)
    arr = array_commands.ArrayAt(100, _array(), 7, (running, held, done))
    before = _images(st)
    with pytest.raises(PermissionDenied):
        array_commands.cancel(st, RULES, BOB, arr, NOW)
    out, count = array_commands.cancel(st, RULES, ALICE, arr, NOW)
    assert _images(st) == before and arr.rest is not None and arr.rest.state == "PENDING"
    assert count == 7 + 2  # the rest's pending tasks, and the two unfinished tasks
    rest_ev, *task_evs = out.events
    assert (rest_ev.job_id, rest_ev.from_state, rest_ev.to_state) == (None, "PENDING",
                                                                     "CANCELLED")
    assert (rest_ev.data["array_id"], rest_ev.data["tasks"]) == (100, 7)
    assert [(e.job_id, e.to_state) for e in task_evs] == [(101, "COMPLETING"),
                                                         (102, "CANCELLED")]
    assert [(o.node, o.body["job_id"]) for o in out.orders] == [("n1", 101)]
    log: list[Event] = []
    _run(st, Outcome(tuple(task_evs)), log)
    assert st.jobs[101].intent == StopIntent.CANCEL
    rest = _rest_replayed(arr, [rest_ev]).rests[100].template
    assert (rest.state, rest.t_end, rest.cancelled_by_uid, rest.intent) == (
        JobState.CANCELLED, NOW, ALICE.uid, None)


def test_an_array_is_held_and_released_as_a_whole() -> None:
    pending = _job(101, JobState.PENDING, array_job_id=100)
    running = _job(102, JobState.RUNNING, nodes=("n1",), array_job_id=100)
    st = _state(pending, running)
    arr = array_commands.ArrayAt(100, _array(), 8, (pending, running))
    out, count = array_commands.hold(st, RULES, OPERATOR, arr, NOW, release=False)
    assert (count, out.answer, out.orders) == (9, "HELD", ())
    assert [(e.job_id, e.kind, e.to_state) for e in out.events] == [
        (None, EventKind.HOLD, "HELD"), (101, EventKind.HOLD, "HELD")]
    _run(st, Outcome(out.events[1:]), [])
    held_rest = _rest_replayed(arr, list(out.events)).rests[100].template
    assert (held_rest.state, held_rest.intent) == (JobState.HELD, StopIntent.HOLD_ADMIN)
    arr = array_commands.ArrayAt(100, held_rest, 8, (st.jobs[101], running))
    with pytest.raises(PermissionDenied, match="needs operator"):  # an operator's hold
        array_commands.hold(st, RULES, ALICE, arr, NOW, release=True)
    out, count = array_commands.hold(st, RULES, OPERATOR, arr, NOW + 1, release=True)
    assert count == 9 and [e.to_state for e in out.events] == ["PENDING", "PENDING"]


def test_an_arrays_rest_is_updated() -> None:
    arr = array_commands.ArrayAt(100, _array(), 10, ())
    st = _state()
    out = array_commands.update_rest(st, RULES, ALICE, arr, {"name": "x",
                                                             "cpus_per_node": 2}, NOW,
                                     _resolver)
    assert arr.rest is not None and arr.rest.spec.name == "j100"  # nothing changed
    [ev] = out.events
    assert (ev.from_state, ev.to_state, ev.data["fields"]) == ("PENDING", "PENDING", {
        "name": "x", "cpus_per_node": 2})
    rest = _rest_replayed(arr, [ev]).rests[100].template
    assert (rest.spec.name, rest.spec.cpus_per_node, rest.mem_mb_per_node) == ("x", 2, 200)
    with pytest.raises(PermissionDenied):
        array_commands.update_rest(st, RULES, BOB, arr, {"name": "y"}, NOW, _resolver)
    assert array_commands.update_rest(st, RULES, ALICE, array_commands.ArrayAt(
        100, None, 0, (_job(101, JobState.RUNNING),)), {"name": "y"}, NOW,
        _resolver).events == ()


def test_replaying_ends_of_runs_and_preemptions_gives_the_same_state() -> None:
    """Every handler of runs.py and the preemption ones, one after the other on the
    state the last left: the log replayed from the submits is the same state."""
    jobs = [_running(1), _running(2), _running(3, retries=3), _running(4),
            _running(5), _job(6, JobState.PENDING)]
    jobs[4].partition = "sus"
    st = _state(*(dataclasses.replace(j) for j in jobs))
    rules = dataclasses.replace(PREEMPTING, max_retries=3)
    log: list[Event] = []
    steps = [
        lambda s: commands.preempt(s, rules, 1, 6, NOW),  # requeue, once killed
        lambda s: commands.preempt(s, rules, 5, 6, NOW),  # suspended
        lambda s: runs.run_ended(s, rules, "n1", _report(1, "FAILED", signal=15), NOW + 1),
        lambda s: runs.run_lost(s, rules, 2, "node n1 lost", NOW + 2, kill_elsewhere="n1"),
        lambda s: runs.run_lost(s, rules, 3, "node n1 lost", NOW + 3),  # NODE_FAIL
        lambda s: runs.prolog_failed_elsewhere(s, rules, "n2", 4, 0, "no /scratch", NOW + 4),
        lambda s: runs.run_ended(s, rules, "n1", _report(4, "FAILED", signal=15), NOW + 5,
                                 elsewhere="no /scratch"),
        lambda s: commands.resume(s, 5, 99, NOW + 6),
        lambda s: runs.run_ended(s, rules, "n2", _report(5, exit_code=0, t_end=NOW + 7),
                                 NOW + 7),
    ]
    for step in steps:
        _run(st, step(st), log)
    assert [st.jobs[i].state for i in range(1, 6)] == [
        JobState.PENDING, JobState.PENDING, JobState.NODE_FAIL, JobState.PENDING,
        JobState.COMPLETED]
    assert _images(replay(_submits(*jobs) + log)) == _images(st)
