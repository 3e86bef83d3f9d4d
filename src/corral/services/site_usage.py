"""Usage per site, for the sites' own fair-share ([fairshare.sites.NAME],
corral.sched.site_fairshare) and `corral sites`: the CPU-seconds of the jobs that
ended on each site's nodes, per account (else user), decayed as the cluster-wide
usage is. A job on nodes of several sites is charged to each by its nodes there.

Counted from the job ends this controller saw (the tally is not stored): after a
restart, a site's fair-share starts again from no usage."""

from __future__ import annotations

from collections.abc import Mapping

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
        share = cpu_s / len(job.nodes)
        for node in job.nodes:
            site = site_of.get(node, "")
            if site:
                usage = self._sites.get(site)
                if usage is None:
                    usage = self._sites[site] = Usage(self.half_life_s)
                usage.charge((job.spec.account, job.user), share, job.t_end, now)

    def current(self, site: str, now: float) -> dict[str, float]:
        """The site's decayed usage per account (else user)."""
        usage = self._sites.get(site)
        return usage.current(now) if usage is not None else {}
