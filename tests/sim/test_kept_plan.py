"""Conservative that keeps its plan: the incrementally updated profile gives
the same plan as rebuilding it before every operation, and the plan is a
valid conservative schedule."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.sched.kept_plan import KeptPlan, Profile
from corral.sim.jobs import SimJob
from corral.sim.kept import simulate_kept
from corral.sim.settings import PRESETS, ReplaySettings

TOTAL = 16


@st.composite
def workloads(draw: st.DrawFn) -> list[SimJob]:
    n = draw(st.integers(1, 40))
    jobs = []
    t = 0.0
    for i in range(n):
        t += draw(st.integers(0, 30))
        limit = draw(st.integers(1, 100))
        run = draw(st.integers(1, limit))
        procs = draw(st.integers(1, TOTAL))
        jobs.append(SimJob(i + 1, t, float(run), float(limit), procs, str(i % 3)))
    return jobs


SETTINGS = [
    PRESETS["pyss"],
    PRESETS["corral"].replace(conservative_plan="keep"),
    PRESETS["corral"].replace(conservative_plan="keep", cycle="per_event"),
]


def check_feasible(jobs: list[SimJob], t_start: list[float]) -> None:
    edges = []
    for j, s in zip(jobs, t_start, strict=True):
        assert s >= j.t_submit
        edges += [(s, j.procs), (s + j.run_s, -j.procs)]
    busy = 0
    for _, dp in sorted(edges, key=lambda e: (e[0], e[1])):
        busy += dp
        assert busy <= TOTAL


@settings(max_examples=150, deadline=None)
@given(workloads(), st.sampled_from(range(len(SETTINGS))))
def test_incremental_profile_equals_rebuilt(jobs: list[SimJob], which: int) -> None:
    s: ReplaySettings = SETTINGS[which]
    a = simulate_kept(jobs, TOTAL, s)
    b = simulate_kept(jobs, TOTAL, s, rebuild=True)
    assert a.t_start == b.t_start
    assert a.t_end == b.t_end
    check_feasible(jobs, a.t_start)


def test_profile_merges_and_forgets() -> None:
    p = Profile(10, 0.0)
    p.add(5.0, 15.0, -4)
    p.add(10.0, 20.0, -6)
    assert p.steps() == [(0.0, 10), (5.0, 6), (10.0, 0), (15.0, 4), (20.0, 10)]
    assert p.earliest(6, 5.0, 0.0) == 0.0
    assert p.earliest(6, 11.0, 0.0) == 20.0
    assert p.earliest(7, 3.0, 0.0) == 0.0
    assert p.earliest(7, 10.0, 0.0, t_before=15.0) == float("inf")
    assert p.earliest(7, 10.0, 0.0) == 20.0
    p.add(10.0, 20.0, 6)
    assert p.steps() == [(0.0, 10), (5.0, 6), (15.0, 10)]
    p.advance(7.0)
    assert p.steps() == [(7.0, 6), (15.0, 10)]


def test_compression_moves_jobs_earlier_in_queue_order() -> None:
    plan = KeptPlan(10, 0.0)
    plan.arrive(1, 10, 100.0, 0.0)  # occupies everything until 100
    assert plan.start(0.0) == [1]
    assert plan.arrive(2, 6, 50.0, 1.0) == 100.0
    assert plan.arrive(3, 6, 50.0, 2.0) == 150.0
    assert plan.arrive(4, 4, 100.0, 3.0) == 100.0
    assert plan.end(1, 20.0)  # ended early: its tail is free
    assert plan.compress(20.0) == [(2, 20.0), (3, 70.0), (4, 20.0)]
    assert plan.start(20.0) == [2, 4]
