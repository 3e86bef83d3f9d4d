"""Fair-share per site in the pure core: usage on one site's nodes counts against that
site's shares only; a job that may run on several places takes the best factor."""

from __future__ import annotations

from dataclasses import replace

from corral.sched import FCFS, PriorityWeights, SiteFairshare, Snapshot, run_cycle
from corral.sched.site_fairshare import SiteShares
from tests.sched.helpers import node, pend, snap

W = PriorityWeights(age=0.0, fairshare=1000.0)
# account "heavy" used site a a lot; "light" used site b a little
USAGE = {"a": SiteFairshare({"heavy": 1000.0, "light": 10.0}),
         "b": SiteFairshare({"light": 10.0})}


def _sites(s: Snapshot, where: dict[str, str], fs: dict[str, SiteFairshare],
           whole: dict[str, float] | None = None) -> Snapshot:
    nodes = tuple(replace(n, site=where.get(n.name, "")) for n in s.nodes)
    return replace(s, nodes=nodes, site_fairshare=fs, usage_cpu_s=whole or {})


def _first(s: Snapshot) -> int:
    starts = run_cycle(s, FCFS(weights=W), 10.0).starts
    assert len(starts) == 1, starts
    return starts[0].job_id


def _on(site: str) -> frozenset[str]:
    return frozenset({f"{site}1"})


def test_each_site_orders_by_its_own_usage() -> None:
    # cluster-wide, heavy used more than light: light would go first everywhere
    whole = {"heavy": 1000.0, "light": 10.0}
    for site, first in (("a", "light"), ("b", "heavy")):
        jobs = [pend(1, account="heavy", eligible_nodes=_on(site)),
                pend(2, account="light", eligible_nodes=_on(site))]
        s = snap([node("a1", 1), node("b1", 1)], [], jobs)
        got = _first(_sites(s, {"a1": "a", "b1": "b"}, USAGE, whole))
        assert jobs[got - 1].account == first, (site, got)
    # without per-site fair-share, the cluster-wide usage decides on b too
    jobs = [pend(1, account="heavy", eligible_nodes=_on("b")),
            pend(2, account="light", eligible_nodes=_on("b"))]
    s = snap([node("a1", 1), node("b1", 1)], [], jobs)
    assert _first(_sites(s, {"a1": "a", "b1": "b"}, {}, whole)) == 2


def test_a_job_for_several_sites_takes_its_best_factor() -> None:
    s = snap([node("a1", 1), node("b1", 1)], [], [pend(1, account="heavy")])
    s = _sites(s, {"a1": "a", "b1": "b"}, USAGE)
    shares = SiteShares(s.site_fairshare, s.nodes)
    part = s.partitions["p"]
    job = s.pending[0]
    f_a = shares.factor(replace(job, eligible_nodes=_on("a")), part, 0.3)
    f_b = shares.factor(replace(job, eligible_nodes=_on("b")), part, 0.3)
    assert f_a < 0.5 < f_b == 1.0  # heavy: nothing used on b
    assert shares.factor(job, part, 0.3) == f_b  # both sites: the better one


def test_nodes_of_no_own_site_bring_the_cluster_factor() -> None:
    s = snap([node("a1", 1), node("x1", 1)], [], [pend(1, account="heavy")])
    s = _sites(s, {"a1": "a", "x1": ""}, {"a": USAGE["a"]})
    shares = SiteShares(s.site_fairshare, s.nodes)
    part, job = s.partitions["p"], s.pending[0]
    assert shares.factor(job, part, 0.7) == 0.7  # x1 is not a's: the better of the two
    only_a = replace(job, eligible_nodes=_on("a"))
    assert shares.factor(only_a, part, 0.7) < 0.5
    only_x = replace(job, excluded_nodes=frozenset({"a1"}))
    assert shares.factor(only_x, part, 0.7) == 0.7
    # a site named in the configuration with no node yet changes nothing
    none = SiteShares({"c": SiteFairshare({"heavy": 1.0})}, s.nodes)
    assert not none.active and none.factor(only_a, part, 0.7) == 0.7


def test_site_shares_weigh_usage() -> None:
    # on a, heavy has 100 times light's shares: its usage there is its due
    fs = {"a": SiteFairshare({"heavy": 1000.0, "light": 100.0},
                             {"heavy": 100.0, "light": 1.0})}
    jobs = [pend(1, account="light", eligible_nodes=_on("a")),
            pend(2, account="heavy", eligible_nodes=_on("a"))]
    s = _sites(snap([node("a1", 1)], [], jobs), {"a1": "a"}, fs)
    assert _first(s) == 2
    f = run_cycle(s, FCFS(weights=W), 10.0).factors
    assert f[2].fairshare > f[1].fairshare
