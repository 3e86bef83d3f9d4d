"""What each dashboard page shows, as plain data, from the controller's published
read model and its reads (the same ones the API answers from, so the same rules of
who sees what: services/access.py, services/authz.py)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral.model.errors import InvalidRequest, NotFound
from corral.model.job import Job
from corral.model.states import JobState
from corral.model.units import format_duration_s
from corral.services.access import PRIVATE_SPEC_FIELDS
from corral.services.explain import explain
from corral.services.identity import Caller
from corral.services.reports import Reports
from corral.services.snapshot import Filters, Snapshot
from corral.services.submit import partition_nodes
from corral.web.output import Tail, tail

if TYPE_CHECKING:
    from corral.services.controller import Controller

MAX_ROWS = 500  # rows a queue page shows; narrow the filters for the rest
_GENERATION = "corral.web.generation"
STATES = tuple(JobState.__members__)


def generation(snap: Snapshot) -> int:
    """A number that changes when a job changed: the snapshot's version when its jobs
    were first published. The derived-data memo is carried to the next snapshot when
    no job changed (services/snapshot.py), and so is this."""
    memo = snap._memo
    gen = memo.get(_GENERATION)
    if gen is None:
        gen = memo.setdefault(_GENERATION, snap.version)
    return int(gen)


@dataclass(frozen=True)
class QueueQuery:
    users: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    partitions: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    @staticmethod
    def parse(user: str = "", state: str = "", partition: str = "", name: str = ""
              ) -> QueueQuery:
        def split(v: str, field_name: str) -> frozenset[str]:
            if len(v) > 1024 or "\0" in v:
                raise InvalidRequest(f"{field_name}: longer than 1024 characters or a NUL")
            return frozenset(p.strip() for p in v.split(",") if p.strip())
        states = frozenset(s.upper() for s in split(state, "state"))
        for s in states:
            if s not in JobState.__members__:
                raise InvalidRequest(f"state: {s!r} is not a job state "
                                     f"(one of {', '.join(STATES)})")
        return QueueQuery(split(user, "user"), states, split(partition, "partition"),
                          split(name, "name"))

    def filters(self) -> Filters:
        return Filters(users=self.users, states=self.states, partitions=self.partitions,
                       names=self.names)


def when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def duration(seconds: float | None) -> str:
    """A length of time as people read it: 45s, 3m 05s, 1h 02m, 2d 03h."""
    if seconds is None:
        return ""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def queue_row(d: dict[str, Any], now: float) -> dict[str, Any]:
    t_start, t_end = d.get("t_start"), d.get("t_end")
    elapsed = None if t_start is None else (t_end or now) - t_start
    limit = d.get("time_limit_s")
    return {
        "id": d["id"], "display_id": d.get("display_id", d["id"]), "name": d["name"],
        "user": d["user"], "account": d.get("account") or "", "partition": d["partition"],
        "state": d["state"], "reason": d.get("reason") or "", "cpus": d.get("cpus"),
        "nodes": ",".join(d.get("node_list") or []) or d.get("nodes"),
        "submitted": when(d.get("t_submit")),
        "started": when(t_start) if t_start else
        (f"~{when(d['t_expected_start'])}" if d.get("t_expected_start") else ""),
        "elapsed": duration(elapsed),
        "time_limit": "unlimited" if not limit else format_duration_s(limit),
    }


@dataclass
class QueueView:
    rows: list[dict[str, Any]]
    matched: int  # jobs that match (rows shows the first MAX_ROWS)
    by_state: dict[str, int] = field(default_factory=dict)


def queue(snap: Snapshot, caller: Caller, q: QueueQuery) -> QueueView:
    """The queue as the caller may see it (GET /v1/jobs' rules), in id order."""
    f = q.filters()
    now = time.time()
    rows: list[dict[str, Any]] = []
    by_state: Counter[str] = Counter()
    matched = 0
    for e in [*snap.ordered(), *snap.rests]:
        if not (f.match(e) and snap.sees(caller, e)):
            continue
        matched += 1
        by_state[e.state] += 1
        if len(rows) < MAX_ROWS:
            rows.append(queue_row(json.loads(e.as_seen_by(caller)), now))
    rows.sort(key=lambda r: r["id"])
    return QueueView(rows, matched, dict(sorted(by_state.items())))


def history_rows(jobs: list[Job], ctl: Controller, caller: Caller) -> list[dict[str, Any]]:
    now = time.time()
    rows = [queue_row(ctl.access.job_dict(caller, j), now) for j in jobs]
    rows.sort(key=lambda r: -int(r["id"]))
    return rows


def timeline(job: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The job's states as spans (from its event log) and the events as rows."""
    spans: list[dict[str, Any]] = []
    state, t_from = "PENDING", job["t_submit"]
    for ev in events:
        to = ev.get("to_state")
        if to and to != state:
            spans.append({"state": state, "t0": t_from, "t1": ev["t"]})
            state, t_from = to, ev["t"]
    t_last = job.get("t_end") if job["state"] in FINAL_STATES else time.time()
    spans.append({"state": state, "t0": t_from, "t1": max(t_from, t_last or t_from)})
    total = max(1e-9, spans[-1]["t1"] - spans[0]["t0"])
    for s in spans:
        s["pct"] = round(100.0 * (s["t1"] - s["t0"]) / total, 3)
        s["length"] = duration(s["t1"] - s["t0"])
        s["from"] = when(s["t0"])
    rows = [{"t": when(ev["t"]), "kind": ev["kind"],
             "change": f"{ev['from_state'] or ''} → {ev['to_state']}" if ev.get("to_state")
             else "",
             # the submit event carries the spec, which the page shows whole
             "data": "" if ev["kind"] == "submit" else _summary(ev.get("data"))}
            for ev in events]
    return {"spans": spans, "events": rows}


FINAL_STATES = frozenset(s for s in STATES if JobState[s].is_final)


def _summary(data: Any) -> str:
    if not data:
        return ""
    text = json.dumps(data, sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= 300 else text[:297] + "..."


def usage(job: dict[str, Any]) -> list[tuple[str, str]]:
    """What the job used (or uses now), as label/value pairs."""
    now = time.time()
    out: list[tuple[str, str]] = []
    t_start, t_end = job.get("t_start"), job.get("t_end")
    if job.get("t_submit") is not None and t_start is not None:
        out.append(("waited", duration(t_start - job["t_submit"])))
    elapsed = None if t_start is None else (t_end or now) - t_start
    if elapsed is not None:
        out.append(("ran", duration(elapsed)))
        out.append(("CPU-hours allocated", f"{elapsed * (job.get('cpus') or 0) / 3600:.3f}"))
    cpu_s = job.get("cpu_time_s")
    live = job.get("live_usage") or {}
    if cpu_s is None and live:
        cpu_s = sum(float(v.get("cpu_time_s", 0)) for v in live.values())
    if cpu_s is not None:
        out.append(("CPU time used", duration(cpu_s)))
        if elapsed and job.get("cpus"):
            out.append(("CPU efficiency", f"{100.0 * cpu_s / (elapsed * job['cpus']):.1f}%"))
    rss = job.get("max_rss_mb")
    if rss is None and live:
        rss = max(float(v.get("max_rss_mb", 0)) for v in live.values())
    if rss is not None:
        out.append(("peak memory", f"{rss:.1f} MB"))
    if job.get("exit_code") is not None:
        out.append(("exit code", str(job["exit_code"])))
    return out


def recorded(record: dict[str, Any] | None) -> list[tuple[str, str]]:
    """What the job's usage record adds: its charge, GPU and energy use."""
    if record is None:
        return []
    r = record["job"]
    out = [("charge", f"{float(r.get('charge') or 0) / 3600:.3f} billing-hours "
                      f"({float(r.get('billing') or 0):g} units/s)")]
    if r.get("gpu_s"):
        out.append(("GPU-hours", f"{float(r['gpu_s']) / 3600:.3f}"))
    if r.get("energy_j") is not None:
        out.append(("energy", f"{float(r['energy_j']) / 3.6e6:.3f} kWh"))
    return out


def steps(record: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The job's steps (srun) as their usage records show them."""
    if record is None:
        return []
    return [{"step": r["step_id"], "state": r.get("state", ""),
             "ran": duration(float(r["t_end"]) - float(r["t_start"]))
             if r.get("t_start") is not None else "",
             "cpus": r.get("cpus"), "cpu_used": duration(r.get("cpu_s_used")),
             "max_rss_mb": r.get("max_rss_mb"), "exit_code": r.get("exit_code")}
            for r in record["steps"]]


async def job_page(ctl: Controller, caller: Caller, job_id: int) -> dict[str, Any]:
    """Everything the job's page shows (NotFound: no such job for this caller)."""
    job = await ctl.read_job(caller, job_id)
    d = ctl.access.job_dict(caller, job)
    events = await ctl.read_events(caller, job_id)
    why = explain(ctl, job, await ctl.events(job_id) if job.state.is_final else None)
    spec = dict(d["spec"])
    script = spec.pop("script", None)
    withheld = bool(d.get("withheld"))
    record: dict[str, Any] | None = None
    if job.state.is_final:  # its usage record (docs/accounting.md), kept as it ended
        try:
            record = await Reports(ctl).job(caller, job_id)
        except NotFound:
            record = None
    outputs: list[Tail] = []
    if caller.uid == job.uid:  # the owner only (docs/dashboard.md)
        outputs.append(tail(job.stdout_path, job.uid))
        if job.stderr_path != job.stdout_path:
            outputs.append(tail(job.stderr_path, job.uid))
    return {
        "job": d, "row": queue_row(d, time.time()),
        "spec": {k: v for k, v in spec.items() if v not in (None, [], {}, "")},
        "script": script, "withheld": withheld, "private_fields": PRIVATE_SPEC_FIELDS,
        "timeline": timeline(d, events), "explanation": why["explanation"],
        "usage": usage(d) + recorded(record), "steps": steps(record),
        "outputs": outputs, "owner": caller.uid == job.uid,
    }


def cluster(ctl: Controller, snap: Snapshot, caller: Caller) -> dict[str, Any]:
    """Nodes and partitions with their load, and the jobs waiting per partition."""
    waiting: Counter[str] = Counter()
    running: Counter[str] = Counter()
    for e in [*snap.ordered(), *snap.rests]:
        if e.state in ("PENDING", "HELD"):
            waiting[e.partition] += 1
        elif e.state == "RUNNING":
            running[e.partition] += 1
    nodes = []
    for n in sorted(ctl.nodes.values(), key=lambda n: n.name):
        d = n.to_dict()
        d["load_pct"] = round(100.0 * n.cpus_used / n.cpus, 1) if n.cpus else 0.0
        d["mem_pct"] = round(100.0 * n.mem_mb_used / n.mem_mb, 1) if n.mem_mb else 0.0
        d["jobs"] = len(d["jobs"])
        d["last_seen"] = duration(time.time() - n.t_last_seen) if n.t_last_seen else ""
        nodes.append(d)
    partitions = []
    for p in ctl.cfg.partitions:
        members = partition_nodes(p, ctl.nodes.values())
        cpus = sum(n.cpus for n in members)
        used = sum(n.cpus_used for n in members)
        partitions.append({
            "name": p.name, "default": p is ctl.cfg.default_partition,
            "nodes": len(members), "cpus": cpus, "cpus_used": used,
            "load_pct": round(100.0 * used / cpus, 1) if cpus else 0.0,
            "running": running[p.name], "waiting": waiting[p.name],
            "max_time": "unlimited" if not p.max_time_s else format_duration_s(p.max_time_s),
        })
    g = snap.gauges
    return {"nodes": nodes, "partitions": partitions,
            "cpus_total": g.cpus_total, "cpus_allocated": g.cpus_allocated,
            "jobs_by_state": {k: v for k, v in g.jobs_by_state.items() if v},
            "sees_all": snap.private_jobs is False or ctl.access.sees_all(caller)}
