"""Conservative that keeps its plan: the incrementally updated profile gives
the same plan as rebuilding it before every operation, and the plan is a
valid conservative schedule."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.sched.kept_plan import KeptPlan, Profile
from corral.sim.jobs import SimJob
from corral.sim.kept import simulate_kept
from corral.sim.settings import PRESETS, ReplaySettings

TOTAL = 16


@st.composite
def workloads(draw: st.DrawFn) -> list[SimJob]:
    n = draw(st.integers(1, 80))
    # few shapes: many jobs of the same (processors, limit), as in real
    # traces, for the compression's memo of searches that found nothing
    few = draw(st.booleans())
    jobs = []
    t = 0.0
    for i in range(n):
        t += draw(st.integers(0, 30))
        limit = draw(st.sampled_from((20, 60))) if few else draw(st.integers(1, 100))
        run = draw(st.integers(1, limit))
        procs = draw(st.sampled_from((3, 8))) if few else draw(st.integers(1, TOTAL))
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


@settings(max_examples=250, deadline=None)
@given(workloads(), st.sampled_from(range(len(SETTINGS))))
def test_incremental_profile_equals_rebuilt(jobs: list[SimJob], which: int) -> None:
    s: ReplaySettings = SETTINGS[which]
    a = simulate_kept(jobs, TOTAL, s)
    b = simulate_kept(jobs, TOTAL, s, rebuild=True)
    assert a.t_start == b.t_start
    assert a.t_end == b.t_end
    check_feasible(jobs, a.t_start)


def earliest_by_brute_force(
    prof: Profile, p: int, d: float, t_min: float, t_before: float, t_own: float
) -> float:
    """Every candidate start in turn, every step it overlaps checked."""
    steps = prof.steps()
    ends = [t for t, _ in steps[1:]] + [math.inf]
    starts = [t_min] + [t for t, _ in steps if t > t_min]
    for t0 in starts:
        if t0 >= t_before:
            break
        t_need = min(t0 + d, t_own)
        if all(f >= p for (t, f), e in zip(steps, ends, strict=True) if t < t_need and e > t0):
            return t0
    return math.inf


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.integers(1, 40), st.integers(-TOTAL, TOTAL)),
        max_size=12,
    ),
    st.integers(1, TOTAL),
    st.integers(1, 50),
    st.integers(0, 80),
    st.sampled_from((None, 10, 40, 90)),
    st.booleans(),
)
def test_earliest_equals_brute_force(
    changes: list[tuple[int, int, int]],
    p: int,
    d: int,
    t_min: int,
    before: int | None,
    own_from_before: bool,
) -> None:
    """As the plan calls it: no bound, or a bound that is also where the
    job's own booking starts (a compression's search before it)."""
    prof = Profile(TOTAL, 0.0)
    for t0, length, dp in changes:
        prof.add(float(t0), float(t0 + length), dp)
    t_before = math.inf if before is None else float(before)
    t_own = t_before if own_from_before else math.inf
    got = prof.earliest(p, float(d), float(t_min), t_before, t_own)
    assert got == earliest_by_brute_force(prof, p, float(d), float(t_min), t_before, t_own)


# (submit, run, limit, processors) and how many such jobs in a row: many jobs of
# one shape, where a move must make the compression forget that a search
# found no window for that shape (found by a property search)
SHAPES_AFTER_MOVE = [
    ((0.0, 1.0, 20.0, 3), 3),
    ((0.0, 60.0, 60.0, 3), 1),
    ((0.0, 1.0, 20.0, 3), 9),
    ((3.0, 1.0, 20.0, 3), 1),
    ((6.0, 1.0, 20.0, 3), 1),
    ((11.0, 1.0, 20.0, 3), 1),
    ((17.0, 1.0, 20.0, 3), 1),
    ((17.0, 30.0, 60.0, 3), 1),
    ((19.0, 1.0, 60.0, 3), 1),
    ((21.0, 1.0, 20.0, 3), 1),
    ((23.0, 1.0, 20.0, 3), 1),
    ((25.0, 1.0, 20.0, 3), 1),
    ((28.0, 1.0, 20.0, 16), 1),
    ((32.0, 1.0, 20.0, 16), 1),
    ((37.0, 1.0, 60.0, 3), 1),
    ((42.0, 1.0, 20.0, 3), 4),
    ((42.0, 1.0, 20.0, 8), 1),
    ((42.0, 1.0, 60.0, 8), 1),
    ((42.0, 1.0, 20.0, 3), 16),
    ((42.0, 1.0, 20.0, 16), 1),
    ((42.0, 1.0, 60.0, 3), 2),
    ((42.0, 1.0, 20.0, 3), 7),
    ((42.0, 1.0, 60.0, 3), 1),
    ((42.0, 1.0, 20.0, 3), 1),
]


def test_compression_forgets_empty_searches_after_a_move() -> None:
    jobs = []
    for (t, run, limit, procs), n in SHAPES_AFTER_MOVE:
        for _ in range(n):
            jobs.append(SimJob(len(jobs) + 1, t, run, limit, procs, "u"))
    s = PRESETS["pyss"]
    a = simulate_kept(jobs, TOTAL, s)
    assert a.t_start == simulate_kept(jobs, TOTAL, s, rebuild=True).t_start
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
