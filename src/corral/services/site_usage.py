"""Usage per site, for the sites' own fair-share ([fairshare.sites.NAME],
corral.sched.site_fairshare) and `corral sites`: the CPU-seconds of the jobs that
ended on each site's nodes, per account (else user), decayed as the cluster-wide
usage is. A job on nodes of several sites is charged to each by its nodes there.

Each job's usage record keeps its nodes' sites (usage_records.sites), from which
a controller starting up loads the tally (Accounting.load_usage), as it loads the
cluster-wide usage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from corral.model.job import Job
from corral.services.usage import Usage, charge_of


class SiteUsage:
    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self._sites: dict[str, Usage] = {}

    def charge_job(self, job: Job, site_of: Mapping[str, str], now: float) -> None:
        """Charge the job's run to the sites of its nodes (`site_of`: node -> site;
        nodes of no site are not charged here)."""
        cpu_s = charge_of(job)
        if cpu_s <= 0 or job.t_end is None or not job.nodes:
            return
        self.charge([site_of.get(node, "") for node in job.nodes],
                    (job.spec.account, job.user), cpu_s, job.t_end, now)

    def charge(self, sites: Sequence[str], who: tuple[str | None, str], cpu_s: float,
               t_end: float, now: float) -> None:
        """Charge `cpu_s` that ended at t_end, shared equally by the nodes whose
        sites are `sites` (one a node; "" for a node of no site: not charged)."""
        if cpu_s <= 0 or not sites:
            return
        share = cpu_s / len(sites)
        for site in sites:
            if site:
                usage = self._sites.get(site)
                if usage is None:
                    usage = self._sites[site] = Usage(self.half_life_s)
                usage.charge(who, share, t_end, now)

    def current(self, site: str, now: float) -> dict[str, float]:
        """The site's decayed usage per account (else user)."""
        usage = self._sites.get(site)
        return usage.current(now) if usage is not None else {}
