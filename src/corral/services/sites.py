"""Sites (docs/pilots.md): which nodes and pilots each has, what waits for it, what it
has done. `GET /v1/sites` and `corral sites` show it; `corral pilot` sizes its pilots
by the `queued` figures."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from corral.model.job import Job
from corral.model.node import Node
from corral.model.states import JobState
from corral.sched.fairshare import fairshare_factors
from corral.sched.site_limits import within_limits
from corral.sched.types import Reason
from corral.services.limits import site_limits_of
from corral.services.matchmaking import pilot_could_run

if TYPE_CHECKING:
    from corral.services.controller import Controller

WINDOW_S = 3600.0  # the throughput's window
# pending reasons that no new node would end: the job is not demand for a site
NOT_DEMAND = {Reason.DEPENDENCY, Reason.DEPENDENCY_NEVER, Reason.BEGIN_TIME,
              Reason.ARRAY_TASK_LIMIT, Reason.NO_PARTITION, Reason.PARTITION_TIME_LIMIT,
              Reason.RESERVATION, Reason.BAD_RESERVATION, Reason.HELD, Reason.LICENSES,
              Reason.SCHEDULING_FAILED}


class SiteThroughput:
    """Jobs ended on each site's nodes, over the last WINDOW_S (since the controller
    started: the tally is not stored)."""

    def __init__(self) -> None:
        self._ends: dict[str, deque[float]] = {}
        self.total: dict[str, int] = {}
        self.t_started = time.time()

    def ended(self, site: str, t: float) -> None:
        if not site:
            return
        ends = self._ends.setdefault(site, deque())
        ends.append(t)
        self.total[site] = self.total.get(site, 0) + 1
        self._trim(ends, t)

    @staticmethod
    def _trim(ends: deque[float], now: float) -> None:
        while ends and ends[0] < now - WINDOW_S:
            ends.popleft()

    def recent(self, site: str, now: float) -> int:
        ends = self._ends.get(site)
        if ends is None:
            return 0
        self._trim(ends, now)
        return len(ends)


def _waiting(ctl: Controller) -> list[Job]:
    jobs = ctl.jobs
    return [j for j in (jobs[i] for i in jobs.by_state[JobState.PENDING])
            if j.reason not in NOT_DEMAND]


def summary(ctl: Controller, tally: SiteThroughput) -> list[dict[str, Any]]:
    """One entry per site: configured (pilots, a fair-share or limits of its own) or
    named by a node."""
    now = time.time()
    limits = site_limits_of(ctl.cfg)
    names = [s.name for s in ctl.cfg.sites]
    named = {n.site for n in ctl.nodes.values() if n.site}
    names += sorted((named | set(ctl.cfg.fairshare.sites) | set(limits)) - set(names))
    waiting = _waiting(ctl)
    eligible = _eligible_on_nodes(ctl, waiting)
    out = []
    for name in names:
        cfg = ctl.cfg.site(name)
        nodes = sorted((n for n in ctl.nodes.values() if n.site == name), key=lambda n: n.name)
        site_nodes = {n.name for n in nodes}
        if cfg is not None:
            demand = {j.id: j for j in pilot_could_run(ctl.cfg, cfg, waiting)}
        else:
            demand = {}
        for job in waiting:  # those its present nodes could take too
            where = eligible.get(job.id)
            if job.id not in demand and site_nodes and (where is None or where & site_nodes):
                demand[job.id] = job
        lim = limits.get(name)
        if lim is not None and demand:  # only what the site's limits would let start
            keep = set(within_limits(lim, _running_on(ctl, nodes), (
                (j.id, j.user, j.spec.cpus_per_node * j.spec.nodes)
                for j in sorted(demand.values(), key=lambda j: (-j.priority, j.id)))))
            demand = {i: j for i, j in demand.items() if i in keep}
        out.append({
            "name": name,
            "batch": cfg.batch if cfg is not None else None,
            "max_pilots": cfg.max_pilots if cfg is not None else None,
            "pilot_cpus": cfg.pilot_cpus if cfg is not None else None,
            "pilot_wall_time_s": cfg.pilot_wall_time_s if cfg is not None else None,
            "nodes": [{
                "name": n.name, "state": str(n.state), "cpus": n.cpus,
                "cpus_used": n.cpus_used, "jobs": sorted(n.jobs),
                "pilot": n.t_deadline is not None, "batch_job": n.batch_job,
                "t_deadline": n.t_deadline,
            } for n in nodes],
            "pilots": sum(1 for n in nodes if n.t_deadline is not None),
            "cpus": sum(n.cpus for n in nodes),
            "cpus_used": sum(n.cpus_used for n in nodes),
            "running": sum(len(n.jobs) for n in nodes),
            "queued": len(demand),
            "queued_cpus": sum(j.spec.cpus_per_node * j.spec.nodes for j in demand.values()),
            "queued_jobs": sorted(demand)[:1000],
            "ended_last_hour": tally.recent(name, now),
            "ended_total": tally.total.get(name, 0),
            "t_counting_since": tally.t_started,
            **_usage(ctl, name, now),
        })
    return out


def _usage(ctl: Controller, site: str, now: float) -> dict[str, Any]:
    """The decayed CPU-seconds used on the site's nodes per account (else user), and
    with a fair-share of its own, each one's factor there."""
    usage = ctl.site_usage.current(site, now)
    own = ctl.cfg.fairshare.sites.get(site)
    factors: dict[str, float] | None = None
    if own is not None:
        shares = dict(own.shares) or {a.name: a.shares for a in ctl.cfg.accounts}
        factors = fairshare_factors(usage, shares)
    return {"usage_cpu_s": {k: round(v, 3) for k, v in sorted(usage.items())},
            "fairshare": ({k: round(v, 6) for k, v in sorted(factors.items())}
                          if factors is not None else None)}


def _running_on(ctl: Controller, nodes: list[Node]) -> list[tuple[str, int]]:
    """(user, CPUs on these nodes) of each job running on them."""
    cpus: dict[int, int] = {}
    for n in nodes:
        for job_id in n.jobs:
            job = ctl.jobs.get(job_id)
            if job is not None:
                cpus[job_id] = cpus.get(job_id, 0) + job.spec.cpus_per_node
    return [(ctl.jobs[i].user, c) for i, c in cpus.items()]


def _eligible_on_nodes(ctl: Controller, jobs: list[Job]) -> dict[int, frozenset[str] | None]:
    """Each waiting job's nodes by its Requirements (None: any node)."""
    match = ctl.scheduler.match if ctl.scheduler is not None else None
    out: dict[int, frozenset[str] | None] = {}
    for job in jobs:
        if match is None or not job.spec.requirements:
            out[job.id] = None
            continue
        eligible, _ = match.place(job)
        out[job.id] = eligible
    return out
