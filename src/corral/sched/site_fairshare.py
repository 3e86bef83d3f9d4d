"""Fair-share per site (Snapshot.site_fairshare). Pure.

A site with a fair-share of its own counts only the usage on its nodes
(NodeView.site): an account that used one site heavily is not held back on
another. The cluster-wide factor (corral.sched.fairshare) still counts all usage
and applies on every other node.

A job's fair-share factor is the best among the places it may run: each site with
its own fair-share that has a node among the job's candidate nodes (its partition's,
less those it excludes, within those its Requirements allow), and the cluster-wide
factor when any candidate node is on no such site. A job restricted to one site thus
gets that site's factor; a job that may run on several is ranked by the one where
its account has the most share left.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from corral.sched.fairshare import fairshare_factors
from corral.sched.types import NodeView, PartitionView, PendingView, SiteFairshare


class SiteShares:
    """Each own-fair-share site's factors and nodes, for one cycle."""

    def __init__(self, sites: Mapping[str, SiteFairshare], nodes: Iterable[NodeView]) -> None:
        by_site: dict[str, set[str]] = {}
        for n in nodes:
            if n.site in sites:
                by_site.setdefault(n.site, set()).add(n.name)
        self.nodes_of = {s: frozenset(v) for s, v in by_site.items()}
        self.on_sites = frozenset().union(*self.nodes_of.values()) if by_site else frozenset()
        self.factors = {s: fairshare_factors(sites[s].usage_cpu_s, sites[s].shares)
                        for s in self.nodes_of}
        self.active = bool(self.nodes_of)
        # candidate nodes -> (the own-fair-share sites among them, any node elsewhere)
        self._where: dict[frozenset[str], tuple[tuple[str, ...], bool]] = {}

    @staticmethod
    def candidates(job: PendingView, part: PartitionView) -> frozenset[str]:
        names = part.nodes - job.excluded_nodes if job.excluded_nodes else part.nodes
        if job.eligible_nodes is not None:
            names = names & job.eligible_nodes
        return names

    def factor(self, job: PendingView, part: PartitionView | None, whole: float) -> float:
        """The job's factor: `whole` (the cluster-wide one) or a site's, the best of
        those where it may run."""
        if not self.active or part is None:
            return whole
        names = self.candidates(job, part)
        where = self._where.get(names)
        if where is None:  # (jobs of one partition or Requirements share their set)
            where = self._where[names] = (
                tuple(site for site, nodes in self.nodes_of.items() if names & nodes),
                not names <= self.on_sites)
        sites, elsewhere = where
        if not sites:
            return whole
        entity = job.account or job.user
        best = max(self.factors[site].get(entity, 1.0) for site in sites)
        return max(best, whole) if elsewhere else best
