"""How a job's run ends: the agents' reports as command handlers (services/commands.py).

Pure functions of (state, rules, what the agent said, now) -> Outcome(events,
orders): no I/O, no clock, no change of the state inside. What the run's end does to
the job is read against its intent (corral.model.intent), which says what the
controller meant by stopping it: requeued, ended CANCELLED or PREEMPTED, ended by
its allocation's client, retried after a prolog failed on another of its nodes.
The runtime (services/runtime.py) applies the events, which also frees what the
run held, commits them and sends the orders (docs/specs/02-agent-protocol.md §3).
tests/api/test_commands.py runs them with a fake clock.
"""

from __future__ import annotations

from typing import Any

from corral.model.agent_messages import AgentJobReport
from corral.model.errors import InvalidRequest
from corral.model.event import Event, EventKind
from corral.model.intent import NO_REASON, StopIntent
from corral.model.job import Job
from corral.model.states import JobState
from corral.services.commands import (
    Order,
    Outcome,
    Rules,
    intent_values,
    job_change,
    kill_orders,
)
from corral.services.retries import (
    back_to_queue,
    failed_run_note,
    retry_failed_run,
    retry_or_end,
)
from corral.services.state import ClusterState

REPORTABLE = frozenset({
    JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT,
    JobState.OUT_OF_MEMORY,
})
MAX_REASON_CHARS = 500
PROLOG_FAILED_ELSEWHERE = "a prolog failed on a node of the job"


def reported(state: ClusterState, node: str, r: AgentJobReport) -> Job | None:
    """The job a report is of, if it is of the job's current run on this node (None:
    already final, requeued, not here, or an earlier run's: an idempotent ack)."""
    job = state.jobs.get(r.job_id)
    if job is None or not job.state.is_active or node not in job.nodes:
        return None
    if r.run is not None and r.run != job.restarts:
        return None
    return job


def run_ended(state: ClusterState, rules: Rules, node: str, r: AgentJobReport,
              now: float, *, end_code: int = 0, elsewhere: str = "") -> Outcome:
    """A job's run ended on `node` as its agent reports. `end_code`: the exit code an
    allocation's client ended it with; `elsewhere`: why a prolog failed on another of
    its nodes, if one did. A report of a run lost with its node's lease is
    `run_lost`'s."""
    job = reported(state, node, r)
    if job is None:
        return Outcome()
    end = JobState(r.state)
    if end not in REPORTABLE:
        raise InvalidRequest(f"report: state {end} cannot end a job")
    usage: dict[str, Any] = {"cpu_time_s": r.cpu_time_s, "max_rss_mb": r.max_rss_mb,
                             "energy_j": r.energy_j}
    intent = job.intent
    if r.prolog_failed and intent is None:  # it never started
        return _one(retry_or_end(rules, job, now, end_state=JobState.FAILED, intent=None,
                                 why=r.message or "prolog failed",
                                 values={**usage, "exit_code": r.exit_code, "signal": None}))
    if intent == StopIntent.PROLOG_FAILED_ELSEWHERE:  # on another node of the job
        return _one(retry_or_end(rules, job, now, end_state=JobState.FAILED, intent=None,
                                 why=elsewhere or PROLOG_FAILED_ELSEWHERE,
                                 values={**usage, "exit_code": 1, "signal": None}))
    if intent is not None and intent.requeues:
        why = "preempted" if intent == StopIntent.PREEMPT_REQUEUE else "requeue requested"
        return _one(back_to_queue(job, now, hold=intent == StopIntent.REQUEUE_HOLD, why=why,
                                  values=usage))
    exit_code, signal = r.exit_code, r.signal
    if intent == StopIntent.ALLOCATION_ENDED:  # its client ended it
        end = JobState.COMPLETED if end_code == 0 else JobState.FAILED
        exit_code, signal = end_code, None
    elif intent == StopIntent.CANCEL and end != JobState.COMPLETED:
        end = JobState.CANCELLED
    elif intent == StopIntent.PREEMPT_CANCEL and end != JobState.COMPLETED:
        end = JobState.PREEMPTED
    note: dict[str, Any] = {}
    if end == JobState.FAILED and intent is None and job.spec.retry_count:
        retry = retry_failed_run(rules, job, now, exit_code=exit_code, signal=signal,
                                 values=usage)  # its RetryCount (services/retries.py)
        if retry is not None:
            return _one(retry)
        note = failed_run_note(rules, job)
    # what the agent says went wrong (it could not start the job…) is the reason
    values = {**usage, "exit_code": exit_code, "signal": signal, "t_end": r.t_end or now,
              **intent_values(None), "reason": r.message[:MAX_REASON_CHARS] or NO_REASON}
    return _one(job_change(job, EventKind.STATE, now, values, to=end, data={
        "node": node, "exit_code": exit_code, "signal": signal,
        "cpu_time_s": r.cpu_time_s, "max_rss_mb": r.max_rss_mb, "message": r.message,
        **note}))


def ended_here(out: Outcome, node: str) -> bool:
    """The outcome of a report is the end of the job's run as it ran (not a requeue,
    a retry or a failed prolog's end): counted in its site's throughput."""
    return any(ev.kind == EventKind.STATE and ev.data.get("node") == node
               for ev in out.events)


def run_lost(state: ClusterState, rules: Rules, job_id: int, why: str, now: float, *,
             kill_elsewhere: str | None = None) -> Outcome:
    """The job's run is dead with its node (lost, its lease lapsed, deleted): requeued
    as a counted retry if it may have one, else NODE_FAIL. `kill_elsewhere`: the node
    it died on; its processes on the job's other nodes are killed at once."""
    job = state.jobs.get(job_id)
    if job is None or not job.state.is_active:
        return Outcome()
    ev = retry_or_end(rules, job, now, why=f"NODE_FAIL: {why}", end_state=JobState.NODE_FAIL,
                      intent=job.intent)
    orders = () if kill_elsewhere is None else tuple(
        Order(other, {"kind": "cancel", "job_id": job.id, "signal": 9, "grace_s": 0})
        for other in job.nodes if other != kill_elsewhere)
    return Outcome((ev,), orders, str(ev.to_state))


def prolog_failed_elsewhere(state: ClusterState, rules: Rules, node: str, job_id: int,
                            run: int, message: str, now: float) -> Outcome:
    """A prolog failed on `node`, one of the job's other nodes: if this is still its
    run, it is killed (its agents are told) to be requeued as a retry, or to end
    FAILED when it has none left, once its batch node reports its end."""
    job = state.jobs.get(job_id)
    if (job is None or job.restarts != run or node not in job.nodes
            or job.state != JobState.RUNNING or job.intent is not None):
        return Outcome()
    ev = job_change(job, EventKind.UPDATE, now,
                    intent_values(StopIntent.PROLOG_FAILED_ELSEWHERE),
                    data={"prolog_failed": message, "node": node})
    return Outcome((ev,), kill_orders(job, rules), str(job.state))


def _one(ev: Event) -> Outcome:
    return Outcome((ev,), (), str(ev.to_state))
