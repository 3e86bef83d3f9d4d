"""Per-site limits in the pure core: a user at a site's limit goes to another
site or waits with the site's limit as the reason."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.sched import EASY, FCFS, Conservative, RunningView, SiteLimits, Snapshot, run_cycle
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


@st.composite
def _site_snapshots(draw: st.DrawFn) -> Snapshot:
    sites = ["a", "b", ""]
    nodes = [replace(node(f"n{i}", cpus=draw(st.integers(1, 4))),
                     site=draw(st.sampled_from(sites)))
             for i in range(draw(st.integers(1, 5)))]
    users = ["u", "v"]
    running = []
    for i in range(draw(st.integers(0, 3))):
        n = draw(st.sampled_from(nodes))
        running.append(RunningView(100 + i, (n.name,), 1, 0, 0, 0.0, 50.0,
                                   user=draw(st.sampled_from(users))))
    used: dict[str, int] = {}
    for r in running:
        used[r.nodes[0]] = used.get(r.nodes[0], 0) + 1
    nodes = [replace(n, cpus_free=max(0, n.cpus - used.get(n.name, 0))) for n in nodes]
    pending = [pend(i, nodes=draw(st.integers(1, 2)), cpus=draw(st.integers(1, 3)),
                    t_submit=float(i), user=draw(st.sampled_from(users)))
               for i in range(1, draw(st.integers(1, 8)) + 1)]
    limits = {s: SiteLimits(draw(st.integers(0, 3)), draw(st.integers(0, 6)))
              for s in ("a", "b")}
    s = snap(nodes, running, pending)
    return replace(s, site_limits=limits)


@settings(max_examples=200, deadline=None)
@given(_site_snapshots(), st.sampled_from([FCFS, EASY, Conservative]))
def test_a_cycle_never_takes_a_user_over_a_site_limit(s: Snapshot, policy: type) -> None:
    d = run_cycle(s, policy(), 0.0)
    site_of = {n.name: n.site for n in s.nodes}
    views = {j.job_id: j for j in s.pending}
    jobs: dict[tuple[str, str], int] = {}
    cpus: dict[tuple[str, str], int] = {}
    for user, nodes, per_node in [(r.user, r.nodes, r.cpus_per_node) for r in s.running] + [
            (views[st_.job_id].user, st_.nodes, views[st_.job_id].cpus_per_node)
            for st_ in d.starts]:
        for site in {site_of[n] for n in nodes}:
            k = (site, user)
            jobs[k] = jobs.get(k, 0) + 1
            cpus[k] = cpus.get(k, 0) + per_node * sum(site_of[n] == site for n in nodes)
    before_j: dict[tuple[str, str], int] = {}
    before_c: dict[tuple[str, str], int] = {}
    for r in s.running:
        for site in {site_of[n] for n in r.nodes}:
            before_j[(site, r.user)] = before_j.get((site, r.user), 0) + 1
            before_c[(site, r.user)] = before_c.get((site, r.user), 0) + r.cpus_per_node
    for (site, user), n in jobs.items():
        lim = s.site_limits.get(site)
        if lim is None:
            continue
        grew = n > before_j.get((site, user), 0)
        if lim.max_jobs_per_user and grew:
            assert n <= lim.max_jobs_per_user, (site, user, n)
        if lim.max_cpus_per_user and grew:
            assert cpus[(site, user)] <= lim.max_cpus_per_user, (site, user, cpus)
    for info in d.pending.values():  # a site's reason names a limited site
        if info.reason.startswith("SiteMax"):
            assert info.reason.split(":", 1)[1] in ("a", "b")


def test_demand_within_limits_takes_each_users_room_in_order() -> None:
    from corral.sched.site_limits import within_limits

    waiting = [(1, "u", 1), (2, "u", 1), (3, "v", 4), (4, "u", 1), (5, "v", 1)]
    # u runs one job there; each user may run two: u brings one more, v two
    lim = SiteLimits(max_jobs_per_user=2)
    assert within_limits(lim, [("u", 1)], waiting) == [1, 3, 5]
    # u at the limit brings none
    assert within_limits(lim, [("u", 1), ("u", 1)], waiting) == [3, 5]
    # CPUs: v's 4-CPU job does not fit in 3 CPUs of room, its 1-CPU one does
    lim = SiteLimits(max_cpus_per_user=3)
    assert within_limits(lim, [], waiting) == [1, 2, 4, 5]
    assert within_limits(SiteLimits(), [("u", 9)], waiting) == [1, 2, 3, 4, 5]
