"""Per-site limits in the pure core: a user at a site's limit goes to another
site or waits with the site's limit as the reason."""

from __future__ import annotations

from dataclasses import replace

from corral.sched import EASY, RunningView, SiteLimits, Snapshot, run_cycle
from tests.sched.helpers import node, pend, snap


def _sites(s: Snapshot, limits: dict[str, SiteLimits], where: dict[str, str]) -> Snapshot:
    nodes = tuple(replace(n, site=where.get(n.name, "")) for n in s.nodes)
    return replace(s, nodes=nodes, site_limits=limits)


def _running(job_id: int, node_name: str, cpus: int, user: str = "u") -> RunningView:
    return RunningView(job_id, (node_name,), cpus, 0, 0, 0.0, 1000.0, user=user)


def _started(s: Snapshot) -> dict[int, tuple[str, ...]]:
    return {st.job_id: st.nodes for st in run_cycle(s, EASY(), 0.0).starts}


def test_jobs_cap_sends_the_rest_to_the_other_site() -> None:
    s = snap([node("a1", cpus=8), node("b1", cpus=8)], [], [pend(i) for i in range(1, 5)])
    s = _sites(s, {"a": SiteLimits(max_jobs_per_user=1)}, {"a1": "a", "b1": "b"})
    started = _started(s)
    assert len(started) == 4
    assert sum(nodes == ("a1",) for nodes in started.values()) == 1


def test_job_waits_naming_the_site_limit_when_no_other_site_fits() -> None:
    s = snap([node("a1", cpus=8)], [_running(9, "a1", 1)], [pend(1), pend(2, user="v")])
    s = _sites(s, {"a": SiteLimits(max_jobs_per_user=1)}, {"a1": "a"})
    d = run_cycle(s, EASY(), 0.0)
    assert [st.job_id for st in d.starts] == [2]  # another user has room there
    assert d.pending[1].reason == "SiteMaxJobsPerUser:a"


def test_cpus_cap_counts_running_cpus_on_the_site() -> None:
    s = snap([node("a1", cpus=8), node("b1", cpus=2)], [_running(9, "a1", 3)],
             [pend(1, cpus=2), pend(2, cpus=2)])
    s = _sites(s, {"a": SiteLimits(max_cpus_per_user=4)}, {"a1": "a", "b1": "b"})
    d = run_cycle(s, EASY(), 0.0)
    assert {st.job_id: st.nodes for st in d.starts} == {1: ("b1",)}
    # b1 is the only place left for job 2: it waits for resources there
    assert d.pending[2].reason == "Resources"
    # without b, job 2 names the limit of a; a job that fits in the room starts
    only_a = snap([node("a1", cpus=8)], [_running(9, "a1", 3)],
                  [pend(1, cpus=2), pend(2, cpus=1)])
    only_a = _sites(only_a, {"a": SiteLimits(max_cpus_per_user=4)}, {"a1": "a"})
    d2 = run_cycle(only_a, EASY(), 0.0)
    assert [st.job_id for st in d2.starts] == [2]
    assert d2.pending[1].reason == "SiteMaxCpusPerUser:a"


def test_one_cycle_never_starts_more_than_the_cap() -> None:
    s = snap([node("a1", cpus=4), node("a2", cpus=4)], [], [pend(i) for i in range(1, 7)])
    s = _sites(s, {"a": SiteLimits(max_jobs_per_user=2, max_cpus_per_user=0)},
               {"a1": "a", "a2": "a"})
    d = run_cycle(s, EASY(), 0.0)
    assert len(d.starts) == 2
    assert {d.pending[i].reason for i in d.pending} == {"SiteMaxJobsPerUser:a"}


def test_sites_without_limits_and_zero_limits_change_nothing() -> None:
    s = snap([node("a1", cpus=4)], [], [pend(i) for i in range(1, 5)])
    plain = _started(s)
    assert len(plain) == 4
    assert _started(_sites(s, {"a": SiteLimits()}, {"a1": "a"})) == plain
    assert _started(_sites(s, {"b": SiteLimits(max_jobs_per_user=1)}, {"a1": "a"})) == plain


def test_job_spanning_sites_counts_on_each() -> None:
    s = snap([node("a1", cpus=4), node("b1", cpus=4)], [], [pend(1, nodes=2, cpus=2), pend(2)])
    s = _sites(s, {"a": SiteLimits(max_jobs_per_user=1), "b": SiteLimits(max_jobs_per_user=1)},
               {"a1": "a", "b1": "b"})
    d = run_cycle(s, EASY(), 0.0)
    assert [st.job_id for st in d.starts] == [1]
    assert d.pending[2].reason in ("SiteMaxJobsPerUser:a", "SiteMaxJobsPerUser:b")
