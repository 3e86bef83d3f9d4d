"""Fair-share convergence: two users with equal shares, one floods the queue
with 4x more jobs; with the queue ordered by multifactor priority (fair-share
weight), their decayed usage converges to equal while both have work queued."""

from __future__ import annotations

from bisect import bisect_right

import pytest

from corral.sched import EASY, FCFS, Policy
from corral.sim.engine import SimResult, simulate
from corral.sim.jobs import SimJob
from corral.sim.settings import PRESETS

PROCS = 10
HOUR = 3600.0


def _flood() -> list[SimJob]:
    """User a submits 400 jobs, user b 100, interleaved a a a a b, all at t=0
    (one processor each, 30-90 minutes): b alone would need 20 h of half the
    machine, a keeps it saturated for about 2 days."""
    jobs = []
    for k in range(500):
        user = "b" if k % 5 == 4 else "a"
        run = 1800.0 + (k * 397) % 3600
        jobs.append(SimJob(k + 1, 0.0, run, run, 1, user))
    return jobs


def _run(order: str, policy: Policy) -> SimResult:
    settings = PRESETS["corral"].replace(
        queue_order=order, prio_fairshare=10000.0, fs_half_life_s=6 * HOUR
    )
    return simulate(_flood(), PROCS, policy, settings, record_usage=True)


def _usage_at(res: SimResult, t: float) -> tuple[float, float]:
    times = [row[0] for row in res.usage]
    k = bisect_right(times, t) - 1
    u = res.usage[k][1]
    return u.get("a", 0.0), u.get("b", 0.0)


def _last_b_start(res: SimResult) -> float:
    return max(res.t_start[k] for k, j in enumerate(res.jobs) if j.user == "b")


@pytest.mark.parametrize("policy", [FCFS, EASY])
def test_decayed_usage_converges_to_equal(policy: type[Policy]) -> None:
    res = _run("priority", policy())
    print(f"\n{policy.__name__}: queue by priority, fair-share weight 10000, half-life 6 h")
    print(f"{'t (h)':>6} {'usage a':>12} {'usage b':>12} {'a/b':>6}")
    for h in (0.5, 2, 4, 6, 8, 10, 12, 14, 16, 18):
        a, b = _usage_at(res, h * HOUR)
        print(f"{h:6.1f} {a:12.0f} {b:12.0f} {a / b if b else float('inf'):6.2f}")
    t_b_done = _last_b_start(res)
    # b keeps work queued until about 20 h (half the machine for 20 h of work)
    assert 17 * HOUR < t_b_done < 22 * HOUR
    for h in (8, 10, 12, 14, 16):
        a, b = _usage_at(res, h * HOUR)
        assert 0.9 < a / b < 1.1, (h, a, b)
    # once b's queue is empty, a takes the whole machine again
    a, b = _usage_at(res, t_b_done + 12 * HOUR)
    assert a / b > 3


def test_arrival_order_gives_the_flood_its_share_of_the_queue() -> None:
    res = _run("arrival", FCFS())
    print("\narrival order (no fair-share)")
    for h in (2, 8, 16):
        a, b = _usage_at(res, h * HOUR)
        print(f"{h:6.1f} {a:12.0f} {b:12.0f} {a / b:6.2f}")
    for h in (8, 16):
        a, b = _usage_at(res, h * HOUR)
        assert 3.3 < a / b < 4.8, (h, a, b)


def test_priority_order_without_weights_is_arrival_order() -> None:
    settings = PRESETS["corral"].replace(queue_order="priority")
    a = simulate(_flood(), PROCS, EASY(), settings)
    b = simulate(_flood(), PROCS, EASY(), PRESETS["corral"])
    assert a.t_start == b.t_start


def test_every_preset_orders_by_arrival() -> None:
    assert all(s.queue_order == "arrival" for s in PRESETS.values())
