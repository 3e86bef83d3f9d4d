"""Replay of conservative backfilling that keeps its plan
(`conservative_plan=keep`, corral.sched.kept_plan).

A job is given its reservation when it arrives and starts when the clock
reaches it; a job ending before its planned end frees its tail and the plan
is compressed in queue order (after that termination with `cycle=per_event`,
once per timestamp after all its terminations with `per_timestamp`). The jobs
due at a time start after all of that time's arrivals and terminations, as
pyss fires its start events last.
"""

from __future__ import annotations

import heapq
import math

from corral.sched.kept_plan import KeptPlan
from corral.sim.engine import SimResult
from corral.sim.jobs import SimJob
from corral.sim.settings import ReplaySettings

INF = math.inf
ARRIVE, END = 0, 1


def simulate_kept(
    jobs: list[SimJob],
    procs_total: int,
    settings: ReplaySettings,
    *,
    record_timeline: bool = False,
    rebuild: bool = False,
    expected_starts: bool = False,
) -> SimResult:
    """`rebuild=True`: rebuild the availability profile before every
    operation instead of updating it (the reference for tests).
    `expected_starts`: record each job's reservation at arrival as the start
    it was promised (SimResult.t_expected)."""
    n = len(jobs)
    order = sorted(range(n), key=lambda i: (jobs[i].t_submit, i))
    o_arrive, o_end = (0, 1) if settings.tie_order == "arrivals_first" else (1, 0)
    heap: list[tuple[float, int, int, int, int]] = [
        (jobs[i].t_submit, o_arrive, seq, ARRIVE, i) for seq, i in enumerate(order)
    ]
    heapq.heapify(heap)
    seq = n
    plan_runtime = settings.queued_plan == "runtime"
    per_event = settings.cycle == "per_event"
    every_end = settings.compress_after == "all_ends"
    plan = KeptPlan(procs_total, jobs[order[0]].t_submit if n else 0.0, rebuild=rebuild)
    t_start = [-1.0] * n
    t_end = [-1.0] * n
    t_expected = [-1.0] * n if expected_starts else []
    busy = 0
    waiting = 0
    n_cycles = 0
    timeline: list[tuple[float, int, int]] = []
    compress_due = False

    while heap or waiting:
        t_ev = heap[0][0] if heap else INF
        t_st = plan.next_start()
        if t_st == INF == t_ev:
            break  # cannot happen: jobs larger than the machine are capped or dropped
        if t_st < t_ev:  # reservations due with no event at that time
            now = t_st
        else:
            now, _, _, kind, i = heapq.heappop(heap)
            j = jobs[i]
            if kind == ARRIVE:
                dur = j.run_s if plan_runtime else j.limit_s
                t_resv = plan.arrive(i, j.procs, dur, now)
                if expected_starts:
                    t_expected[i] = t_resv
                waiting += 1
                n_cycles += 1
            else:
                t_end[i] = now
                busy -= j.procs
                if plan.end(i, now) or every_end:
                    compress_due = True
                if record_timeline:
                    timeline.append((now, busy, waiting))
            if compress_due and (per_event or not heap or heap[0][0] != now):
                plan.compress(now)
                n_cycles += 1
                compress_due = False
            if heap and heap[0][0] == now:
                continue  # start the due jobs after every event of this time
        started = plan.start(now)
        for i in started:
            j = jobs[i]
            t_start[i] = now
            busy += j.procs
            waiting -= 1
            heapq.heappush(heap, (now + j.run_s, o_end, seq, END, i))
            seq += 1
        if started and record_timeline:
            timeline.append((now, busy, waiting))
    return SimResult(
        jobs, t_start, t_end, procs_total, n_cycles, "conservative", timeline, t_expected=t_expected
    )
