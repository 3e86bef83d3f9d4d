"""`corral explain`: why a job waits, in plain words, and what would let it start."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from corral.model.arrays import array_throttle
from corral.model.deps import DepKind, DepStatus, evaluate_one, parse_dependency
from corral.model.event import Event
from corral.model.intent import NO_REASON, StopIntent
from corral.model.job import Job
from corral.model.licenses import held, parse_licenses
from corral.model.states import JobState
from corral.model.units import format_duration_s
from corral.sched import site_limits
from corral.sched.types import Reason
from corral.services import gres
from corral.services.explain_why import ended_lines, node_lines
from corral.services.matchmaking import explain_lines

if TYPE_CHECKING:
    from corral.services.controller import Controller

_NEEDS = {
    DepKind.AFTER: "to start",
    DepKind.AFTERANY: "to end",
    DepKind.AFTEROK: "to complete successfully",
    DepKind.AFTERNOTOK: "to fail",
}


def _when(t: float | None) -> str:
    if t is None:
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _request(job: Job) -> str:
    parts = [f"{job.spec.cpus_per_node} CPU(s)"]
    if job.mem_mb_per_node:
        parts.append(f"{job.mem_mb_per_node} MB")
    if job.spec.gpus_per_node:
        parts.append(f"{job.spec.gpus_per_node} GPU(s)")
    if job.spec.gres:
        parts.append(job.spec.gres)
    per = " + ".join(parts)
    return f"{per} on each of {job.spec.nodes} node(s)" if job.spec.nodes > 1 else per


def _dependency_lines(ctl: Controller, job: Job) -> list[str]:
    lines = []
    for dep in parse_dependency(job.spec.dependency or ""):
        if dep.kind == DepKind.SINGLETON:
            ahead = [o.display_id for o in ctl.jobs.values()
                     if o.id < job.id and o.user == job.user and o.spec.name == job.spec.name
                     and not o.state.is_final]
            if ahead:
                lines.append(f"singleton: job(s) {', '.join(ahead)} named {job.spec.name!r} "
                             "must end first")
            continue
        for target in dep.targets:
            facts = ctl.deps.target_facts(target) or []
            states = sorted({f[0] for f in facts}) or ["unknown"]
            status = [evaluate_one(dep.kind, f) for f in facts]
            if DepStatus.NEVER in status or not facts:
                lines.append(f"{dep.kind}: job {target} ended {'/'.join(states)}, so it can "
                             f"never satisfy '{dep.kind}'")
            elif DepStatus.WAITING in status:
                lines.append(f"{dep.kind}: waits for job {target} ({'/'.join(states)}) "
                             f"{_NEEDS[dep.kind]}")
    return lines


def _waiting_lines(ctl: Controller, job: Job) -> list[str]:
    reason = job.reason
    if reason == Reason.BEGIN_TIME:
        return [f"It may not start before {_when(job.spec.t_begin)} (--begin)."]
    if reason == Reason.DEPENDENCY:
        return ["It waits for its dependencies:", *_dependency_lines(ctl, job)]
    if reason == Reason.DEPENDENCY_NEVER:
        return ["Its dependency can never be satisfied:", *_dependency_lines(ctl, job),
                "Cancel it, or change what it depends on."]
    if reason == Reason.ARRAY_TASK_LIMIT and job.spec.array:
        limit = array_throttle(job.spec.array)
        return [f"Its array {job.array_job_id} allows {limit} task(s) at once, and that many "
                "are running."]
    part_nodes = [n for n in ctl.nodes.values() if n.reachable and not n.drain]
    free = max((n.cpus - n.cpus_used for n in part_nodes), default=0)
    if reason == Reason.PRIORITY:
        ahead = sum(1 for o in (ctl.jobs[i] for i in ctl.jobs.by_state[JobState.PENDING])
                    if o.partition == job.partition and o.priority > job.priority)
        return [f"{ahead} pending job(s) in partition {job.partition!r} have a higher "
                f"priority ({job.priority:.4f} for this one) and go first.",
                f"It needs {_request(job)}."]
    if reason == Reason.RESOURCES:
        short = gres.waiting_line(gres.of_job(job), part_nodes) if job.spec.gres else None
        return [f"It is next in line but needs {_request(job)}; the most CPUs free on one "
                f"available node now is {free}.", *([short] if short else []),
                *node_lines(ctl, job)]
    if reason == Reason.NODES_UNAVAILABLE:
        return ["The nodes it needs are not available:", *node_lines(ctl, job)]
    if reason == Reason.PARTITION_NODE_LIMIT:
        return [f"It asks {_request(job)}: more than the nodes of partition "
                f"{job.partition!r} it may use can ever give."]
    if reason == Reason.RESERVATION:
        return [f"Its reservation {job.spec.reservation!r} has not started yet."]
    if reason == Reason.BAD_RESERVATION:
        return [f"Its reservation {job.spec.reservation!r} is unknown, over, does not "
                "admit it, or is shorter than its time limit."]
    if reason == Reason.LICENSES and job.spec.licenses:
        return _license_lines(ctl, job)
    if reason == Reason.NODE_DEADLINE:
        left = [f"{n.name} ({max(0, int(n.t_deadline - time.time()))} s left)"
                for n in ctl.nodes.values() if n.t_deadline is not None]
        return [f"Its time limit ({format_duration_s(job.time_limit_s)}) is longer than what "
                f"the pilots it could use have left: {', '.join(left[:10]) or 'none'}; it "
                "waits for a pilot that lives long enough (docs/pilots.md)."]
    if reason.startswith((site_limits.JOBS, site_limits.CPUS)):
        return _site_limit_lines(ctl, job, reason)
    if reason.startswith(("Max", "QOSMax")):
        return [f"Its owner is at the {reason} limit (set by the site); it starts when "
                "enough of their running jobs end."]
    if reason == NO_REASON:
        return ["It is waiting for the next scheduling pass."]
    return [f"Reason: {reason}."]


def _site_limit_lines(ctl: Controller, job: Job, reason: str) -> list[str]:
    """The site limit a job waits for: its value and what its owner runs there."""
    limit, _, site = reason.partition(":")
    lim = ctl.cfg.limits.sites.get(site)
    names = {n.name for n in ctl.nodes.values() if n.site == site}
    mine = [o for o in ctl.jobs.values()
            if o.state.is_active and o.user == job.user and names & set(o.nodes)]
    if limit == site_limits.CPUS:
        cpus = sum(o.spec.cpus_per_node * len(names & set(o.nodes)) for o in mine)
        what = (f"max_cpus_per_user = {lim.max_cpus_per_user if lim else '?'}; "
                f"{job.user} runs {cpus} CPUs there, the job asks "
                f"{job.spec.cpus_per_node * job.spec.nodes}")
    else:
        what = (f"max_jobs_per_user = {lim.max_jobs_per_user if lim else '?'}; "
                f"{job.user} runs {len(mine)} jobs there")
    return [f"Its owner is at the {limit} limit of site {site!r} ({what}), and no other "
            "site's nodes it may use fit it; it starts when enough of their jobs there "
            "end (docs/pilots.md)."]


def _license_lines(ctl: Controller, job: Job) -> list[str]:
    """Which of its licenses the job waits for: what it asks, what the running jobs
    hold, of how many."""
    used = held(o.spec.licenses for o in ctl.jobs.values() if o.state.is_active)
    short = [f"{name}: asks {count}, {used.get(name, 0)} of "
             f"{ctl.cfg.licenses.get(name, 0)} in use"
             for name, count in parse_licenses(job.spec.licenses or "")
             if used.get(name, 0) + count > ctl.cfg.licenses.get(name, 0)]
    return [f"It waits for licenses ({'; '.join(short) or job.spec.licenses}); it starts "
            "when running jobs give them back."]


def explain(ctl: Controller, job: Job, events: list[Event] | None = None) -> dict[str, Any]:
    """`events`: the job's record (for a finished job: why it ended)."""
    lines: list[str] = []
    if job.state.is_final:
        code = f" with exit code {job.exit_code}" if job.exit_code is not None else ""
        sig = f" by signal {job.signal}" if job.signal else ""
        lines.append(f"Job {job.display_id} ended {job.state}{code}{sig} at {_when(job.t_end)}.")
        lines.extend(ended_lines(ctl, job, events or []))
    elif job.state.is_active:
        limit = (f"; its time limit ends at {_when((job.t_start or 0) + job.time_limit_s)}"
                 if job.time_limit_s else "")
        lines.append(f"Job {job.display_id} is {job.state} on {','.join(job.nodes)} since "
                     f"{_when(job.t_start)}{limit}.")
    elif job.state == JobState.HELD and job.intent == StopIntent.HOLD_SCHEDULER:
        lines.append(f"Job {job.display_id} is held: the scheduler failed on it "
                     f"({job.reason.partition(': ')[2]}). Change it ('corral update') or "
                     f"cancel it; 'corral release {job.id}' tries it again.")
    elif job.state == JobState.HELD:
        who = "an administrator" if job.intent == StopIntent.HOLD_ADMIN else "its owner"
        lines.append(f"Job {job.display_id} is held by {who}; it cannot start until "
                     f"'corral release {job.id}'.")
    else:
        lines.append(f"Job {job.display_id} is pending ({job.reason}).")
        lines.extend(_waiting_lines(ctl, job))
        lines.extend(explain_lines(ctl.scheduler.match if ctl.scheduler else None, job))
        if job.t_eligible_est is not None:
            wait = max(0.0, job.t_eligible_est - time.time())
            busy = any(ctl.jobs.by_state[s].keys() - {job.id} for s in JobState if s.is_active)
            lines.append(f"Expected start: {_when(job.t_eligible_est)} (in "
                         f"{format_duration_s(wait) if wait >= 1 else 'under a second'})"
                         + (", if running jobs use their whole time limits." if busy
                            else "."))
    return {"id": job.id, "display_id": job.display_id, "state": str(job.state),
            "reason": job.reason, "priority": job.priority,
            "t_expected_start": job.t_eligible_est, "explanation": lines}
