"""Per-site limits on what one user runs at once (Snapshot.site_limits).

Pure. A site caps each user's running jobs and CPUs on its nodes (NodeView.site).
Before planning, the nodes of every site where a waiting job's owner has no room
left for it are taken out of the job's candidates: it goes to another site, or
waits with the reason `SiteMaxJobsPerUser:<site>` / `SiteMaxCpusPerUser:<site>`.
After planning, the starts are admitted in the policy's order, each taking its
room, so one cycle never starts more on a site than its limits allow; the jobs
whose start went over are planned again without that site (a few times at most,
then they wait for the next pass).

A job counts as one job on every site it has nodes on, and its CPUs on those
nodes; when choosing where it may go, its whole CPU count is checked against
each site (exact for a job within one site, cautious for one spanning sites).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from corral.sched.types import NodeView, PendingView, RunningView, SiteLimits

JOBS = "SiteMaxJobsPerUser"
CPUS = "SiteMaxCpusPerUser"


def reason(limit: str, site: str) -> str:
    return f"{limit}:{site}"


class SiteTally:
    """What each user runs on each limited site, and the room a job would take."""

    def __init__(self, limits: Mapping[str, SiteLimits], nodes: Iterable[NodeView],
                 running: Iterable[RunningView]) -> None:
        self.limits = {s: lim for s, lim in limits.items()
                       if lim.max_jobs_per_user > 0 or lim.max_cpus_per_user > 0}
        self.site_of = {n.name: n.site for n in nodes if n.site in self.limits}
        self.active = bool(self.site_of)
        self.nodes_of: dict[str, frozenset[str]] = {}
        if self.active:
            by_site: dict[str, set[str]] = {}
            for name, site in self.site_of.items():
                by_site.setdefault(site, set()).add(name)
            self.nodes_of = {s: frozenset(v) for s, v in by_site.items()}
        self.jobs: dict[tuple[str, str], int] = {}  # (site, user) -> running jobs
        self.cpus: dict[tuple[str, str], int] = {}  # (site, user) -> their CPUs
        if self.active:
            for r in running:
                self._add(r.user, r.nodes, r.cpus_per_node)

    def copy(self) -> SiteTally:
        other = object.__new__(SiteTally)
        other.limits, other.site_of, other.active = self.limits, self.site_of, self.active
        other.nodes_of = self.nodes_of
        other.jobs, other.cpus = dict(self.jobs), dict(self.cpus)
        return other

    def _per_site(self, nodes: Iterable[str]) -> dict[str, int]:
        """Limited site -> how many of `nodes` are on it."""
        out: dict[str, int] = {}
        for name in nodes:
            site = self.site_of.get(name)
            if site is not None:
                out[site] = out.get(site, 0) + 1
        return out

    def _add(self, user: str, nodes: Iterable[str], cpus_per_node: int) -> None:
        for site, n in self._per_site(nodes).items():
            k = (site, user)
            self.jobs[k] = self.jobs.get(k, 0) + 1
            self.cpus[k] = self.cpus.get(k, 0) + n * cpus_per_node

    def _over(self, site: str, user: str, cpus: int) -> str | None:
        lim = self.limits[site]
        k = (site, user)
        if lim.max_jobs_per_user and self.jobs.get(k, 0) + 1 > lim.max_jobs_per_user:
            return reason(JOBS, site)
        if lim.max_cpus_per_user and self.cpus.get(k, 0) + cpus > lim.max_cpus_per_user:
            return reason(CPUS, site)
        return None

    def closed(self, job: PendingView) -> list[tuple[str, frozenset[str]]]:
        """(reason, nodes) of each limited site where the job's owner has no room
        for it now, in site name order."""
        if not self.active:
            return []
        cpus = job.cpus_per_node * job.nodes
        out = []
        for site in sorted(self.nodes_of):
            over = self._over(site, job.user, cpus)
            if over is not None:
                out.append((over, self.nodes_of[site]))
        return out

    def admit(self, job: PendingView, nodes: tuple[str, ...]) -> str | None:
        """None, and the start takes its room on the sites of `nodes`; else the
        limit it would go over."""
        if not self.active:
            return None
        for site, n in sorted(self._per_site(nodes).items()):
            over = self._over(site, job.user, n * job.cpus_per_node)
            if over is not None:
                return over
        self._add(job.user, nodes, job.cpus_per_node)
        return None


def within_limits(limits: SiteLimits, running: Iterable[tuple[str, int]],
                  waiting: Iterable[tuple[int, str, int]]) -> list[int]:
    """The waiting jobs that a site's per-user limits would let start there: what the
    pilot factory may send pilots for. `running`: (user, CPUs on the site) of each job
    running on the site's nodes; `waiting`: (job id, user, CPUs), in the order they
    would start (priority). Each one kept takes its room, so a user at the site's
    limit brings no demand, and one with room for two brings at most two."""
    jobs: dict[str, int] = {}
    cpus: dict[str, int] = {}
    for user, n in running:
        jobs[user] = jobs.get(user, 0) + 1
        cpus[user] = cpus.get(user, 0) + n
    kept = []
    for job_id, user, n in waiting:
        if limits.max_jobs_per_user and jobs.get(user, 0) + 1 > limits.max_jobs_per_user:
            continue
        if limits.max_cpus_per_user and cpus.get(user, 0) + n > limits.max_cpus_per_user:
            continue
        jobs[user] = jobs.get(user, 0) + 1
        cpus[user] = cpus.get(user, 0) + n
        kept.append(job_id)
    return kept
