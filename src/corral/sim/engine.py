"""Discrete-event replay on a virtual clock, through the scheduler core.

Events: arrivals, terminations and (EASY++, predictive) "prediction over" (a
running job reached its predicted end and is planned with its limit from then
on, or with the policy's next guess). Each
scheduling cycle calls `corral.sched.run_cycle_counts`, the processor-count
fast path of the core, with the same policy objects as the controller.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter

from corral.sched import Conservative, Policy, PriorityWeights, Req, extend_counts, plan_counts
from corral.sched.count_machine import CountMachine
from corral.sched.fairshare import fairshare_factors
from corral.sched.priority import Scorer
from corral.sim.energy import HybridCores
from corral.sim.jobs import SimJob
from corral.sim.settings import ReplaySettings

INF = math.inf
ARRIVE, END, PRED = "arrive", "end", "pred"


@dataclass(slots=True)
class SimResult:
    jobs: list[SimJob]
    t_start: list[float]
    t_end: list[float]
    procs_total: int
    n_cycles: int
    policy: str
    # (time, busy processors, queue length) after every cycle that changed them
    timeline: list[tuple[float, int, int]]
    # with record_usage: (time, decayed usage per user in processor-seconds,
    # half-life settings.fs_half_life_s) at every cycle
    usage: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    # with expected_starts: the start each job was promised after the cycle of
    # its arrival (its submit time if it started then; inf: no time could be
    # given; -1: not computed, deeper than expected_depth in the queue)
    t_expected: list[float] = field(default_factory=list)


def simulate(
    jobs: list[SimJob],
    procs_total: int,
    policy: Policy,
    settings: ReplaySettings,
    *,
    record_timeline: bool = False,
    incremental: bool = True,
    on_cycle: Callable[[float, list[Req], list[Req]], None] | None = None,
    record_usage: bool = False,
    expected_starts: bool = False,
    expected_depth: int = 2000,
    cores: HybridCores | None = None,
    skip_unfit: bool = True,
) -> SimResult:
    """Replay `jobs` (any order; sorted by submit time, then trace order).

    With `settings.queue_order == "priority"` the queue handed to the policy
    is sorted by multifactor priority (age and fair-share, weights from the
    settings) at every cycle; usage is each user's processor-seconds, accrued
    while their jobs run and decayed with `fs_half_life_s`, equal shares.

    With `expected_starts`, every job still waiting after the cycle of its
    arrival is given the start it would have if nothing else arrived and every
    running and queued job took its planned duration (the policy's predictions):
    the queue, in the order the policy plans it, is booked on the availability
    profile up to the job (at most `expected_depth` jobs).

    With `cores` (corral.sim.energy), each started job is placed on performance or
    efficiency cores, and runs as long as its placement makes it.

    `skip_unfit`: skip the passes in which no waiting job fits in the free
    processors (they cannot start anything; False runs them, for tests)."""
    if cores is None and (
        settings.conservative_plan == "keep"
        and isinstance(policy, Conservative)
        and policy.max_reservations is None
        and settings.kill_at_limit
        and settings.queue_order == "arrival"
    ):
        from corral.sim.kept import simulate_kept

        return simulate_kept(
            jobs,
            procs_total,
            settings,
            record_timeline=record_timeline,
            expected_starts=expected_starts,
        )
    n = len(jobs)
    order = sorted(range(n), key=lambda i: (jobs[i].t_submit, i))
    if settings.tie_order == "arrivals_first":
        o_arrive, o_end, o_pred = 0, 1, 2
    else:
        o_end, o_pred, o_arrive = 0, 1, 2
    if settings.prediction_over == "first":
        o_pred = -1
    heap: list[tuple[float, int, int, str, int]] = []
    seq = 0
    for i in order:
        heap.append((jobs[i].t_submit, o_arrive, seq, ARRIVE, i))
        seq += 1
    heapq.heapify(heap)

    reqs: list[Req] = []
    plan_runtime = settings.queued_plan == "runtime"
    for j in jobs:
        r = Req(j.job_id, j.procs, j.limit_s, j.t_submit, j.user)
        if j.limit_s == 0:
            r.limit_s = r.dur_s = 0.0
        if plan_runtime:
            r.dur_s = j.run_s
        reqs.append(r)
    index_of = {id(r): k for k, r in enumerate(reqs)}
    t_start = [-1.0] * n
    t_end = [-1.0] * n
    planned = [INF] * n  # planned end of a running job, as in `ends`
    run_s = [j.run_s for j in jobs]  # as each job runs (its placement may slow it)
    ends: list[tuple[float, int]] = []
    # (start + limit, procs) of the running jobs, for policies that plan them
    # at their limits in some passes (`Policy.running_at_limits`)
    at_limits = type(policy).running_at_limits is not Policy.running_at_limits
    lim_ends: list[tuple[float, int]] = []
    free = procs_total
    queue: list[Req] = []
    n_cycles = 0
    timeline: list[tuple[float, int, int]] = []
    per_event = settings.cycle == "per_event"
    limit_frees = settings.limit_end_frees
    uses_pred = policy.uses_predictions
    # Incremental cycles: after a cycle, jobs it did not start stay unstartable
    # until something frees resources (a termination, a planned end passing,
    # a changed prediction): time only moves toward the head's reservation.
    # So while only arrivals happen, a cycle needs to look at the head and the
    # new arrivals, for policies whose only reservation is the head's.
    # Additive plans (conservative): the same situation keeps the previous
    # cycle's bookings valid, so the new arrivals are planned after them.
    # (Not with queued_plan=runtime: a started job is then planned to end at
    # start + request, not as it was booked during the cycle that started it.)
    by_priority = settings.queue_order == "priority"
    incremental = incremental and settings.queued_plan == "estimate" and not by_priority
    weights = PriorityWeights(
        age=settings.prio_age,
        fairshare=settings.prio_fairshare,
        max_age_s=settings.prio_max_age_s,
    )
    if by_priority:
        policy.weights = weights  # what a policy weighs priorities against
    half_life = settings.fs_half_life_s
    usage: dict[str, float] = {}  # decayed processor-seconds per user
    rate: dict[str, int] = {}  # processors each user holds now
    usage_t = -INF
    usage_log: list[tuple[float, dict[str, float]]] = []
    track_usage = by_priority or record_usage

    def accrue(now: float) -> None:
        """Decay usage to `now` and add what running jobs used since the last
        update (exactly: each processor-second decays from when it was used)."""
        nonlocal usage_t
        dt = now - usage_t
        if usage_t == -INF or dt <= 0:
            usage_t = max(usage_t, now)
            return
        if half_life > 0:
            f = 0.5 ** (dt / half_life)
            gain = (1.0 - f) * half_life / math.log(2)
        else:
            f, gain = 1.0, dt
        for u in usage:
            usage[u] *= f
        for u, r in rate.items():
            if r:
                usage[u] = usage.get(u, 0.0) + r * gain
        usage_t = now

    def order_by_priority(now: float) -> None:
        fs = fairshare_factors(usage, {}) if weights.fairshare else {}
        score = Scorer(weights, now=now, total_cpus=procs_total, max_tier=0)
        for r in queue:
            r.priority = score(r.t_submit, r.procs, 0, 0, None, fs.get(r.user, 1.0)).total
        queue.sort(key=_priority_key)

    additive = incremental and policy.plan_is_additive
    # passes that cannot start anything are skipped (not when promising
    # starts: a promise uses the plan's durations of that pass)
    may_skip = skip_unfit and not additive and not expected_starts
    incremental = incremental and policy.head_only_reservation
    machine: CountMachine | None = None
    dirty = True
    last_now = -INF
    n_seen = 0  # queue entries already examined by a cycle
    t_expected = [-1.0] * n if expected_starts else []
    fresh: list[int] = []  # arrivals not yet given an expected start

    def promise(now: float) -> None:
        """Expected starts for the jobs that arrived before this cycle."""
        waiting: dict[int, int] = {}
        for i in fresh:
            if t_start[i] >= 0:
                t_expected[i] = t_start[i]
            else:
                waiting[id(reqs[i])] = i
        fresh.clear()
        if not waiting:
            return
        free_eff = free
        if limit_frees and ends and ends[0][0] <= now:
            k = bisect_right(ends, (now, INF))
            free_eff += sum(p for _, p in ends[:k])
            view = ends[k:]
        else:
            view = ends[:]
        m = CountMachine(procs_total, free_eff, view, now)
        t = -INF
        in_order = not policy.overtakes
        for depth, r in enumerate(policy.ordered(queue, now)):
            if depth >= expected_depth:
                break
            t = m.reserve(r, t) if in_order else m.reserve(r)
            i = waiting.pop(id(r), -1)
            if i >= 0:
                t_expected[i] = t
                if not waiting:
                    break

    def limit_free(now: float) -> int:
        if limit_frees and lim_ends and lim_ends[0][0] <= now:
            return free + sum(p for _, p in lim_ends[: bisect_right(lim_ends, (now, INF))])
        return free

    def limit_view(now: float) -> tuple[int, list[tuple[float, int]]]:
        if limit_frees and lim_ends and lim_ends[0][0] <= now:
            k = bisect_right(lim_ends, (now, INF))
            return free + sum(p for _, p in lim_ends[:k]), lim_ends[k:]
        return free, lim_ends[:]

    def cycle(now: float) -> None:
        nonlocal free, queue, n_cycles, seq, dirty, last_now, n_seen, machine
        if not queue:
            return
        n_cycles += 1
        if by_priority:
            order_by_priority(now)
        if record_usage:
            usage_log.append((now, dict(usage)))
        subset = None
        same = False
        if (incremental or additive) and not dirty and n_seen > 0:
            k = bisect_right(ends, (last_now, INF))
            same = k == len(ends) or ends[k][0] > now
            if same and incremental:
                subset = queue[:1] + queue[n_seen:]
        last_now = now
        dirty = False
        free_eff = free
        k_passed = 0
        if limit_frees and ends and ends[0][0] <= now:
            k_passed = bisect_right(ends, (now, INF))
            free_eff += sum(p for _, p in ends[:k_passed])
        if additive and same and machine is not None:
            started = extend_counts(machine, queue[n_seen:], policy, now)
        elif may_skip and max(free_eff, limit_free(now) if at_limits else 0) < min(
            map(_procs_of, queue)
        ):
            # no waiting job fits in the free processors: the pass can start
            # nothing (every policy starts a job only where it fits now) and
            # books nothing that outlives it, so it is skipped
            started = []
        else:
            view = ends[k_passed:]
            started, m = plan_counts(
                procs_total,
                free_eff,
                view,
                queue if subset is None else subset,
                policy,
                now,
                head_starts_use_limit=plan_runtime,
                limit_ends=(lambda: limit_view(now)) if at_limits else None,
            )
            machine = m if additive else None
        if on_cycle is not None:
            on_cycle(now, queue, started)
        if not started:
            n_seen = len(queue)
            if fresh:
                promise(now)
            return
        for req in started:
            i = index_of[id(req)]
            j = jobs[i]
            t_start[i] = now
            free -= j.procs
            if track_usage:
                rate[j.user] = rate.get(j.user, 0) + j.procs
            if cores is not None:
                run_s[i] = cores.start(i, j)
            t_fin = now + run_s[i]
            heapq.heappush(heap, (t_fin, o_end, seq, END, i))
            seq += 1
            plan_end = now + (req.limit_s if plan_runtime else req.dur_s)
            if uses_pred and req.dur_s < req.limit_s and run_s[i] > req.dur_s:
                heapq.heappush(heap, (plan_end, o_pred, seq, PRED, i))
                seq += 1
            planned[i] = plan_end
            if plan_end < INF:
                insort(ends, (plan_end, j.procs))
            if at_limits and req.limit_s < INF:
                insort(lim_ends, (now + req.limit_s, j.procs))
        k = len(started)
        if queue[:k] == started:
            del queue[:k]  # a prefix started (always so under FCFS)
        elif k <= 8:
            for req in started:
                queue.remove(req)  # identity compare, in C
        else:
            gone = set(started)
            queue = [r for r in queue if r not in gone]
        n_seen = len(queue)
        if fresh:
            promise(now)
        if record_timeline:
            timeline.append((now, procs_total - free, len(queue)))

    def drop_end(i: int) -> None:
        if planned[i] < INF:
            k = bisect_left(ends, (planned[i], jobs[i].procs))
            del ends[k]

    while heap:
        now, _, _, kind, i = heapq.heappop(heap)
        if track_usage:
            accrue(now)
        if kind == ARRIVE:
            queue.append(reqs[i])
            if expected_starts:
                fresh.append(i)
        elif kind == END:
            j = jobs[i]
            t_end[i] = now
            free += j.procs
            if track_usage:
                rate[j.user] -= j.procs
            drop_end(i)
            planned[i] = INF
            if cores is not None:
                cores.end(i)
            if at_limits and reqs[i].limit_s < INF:
                del lim_ends[bisect_left(lim_ends, (t_start[i] + reqs[i].limit_s, j.procs))]
            policy.record_finish(j.user, run_s[i], j.limit_s)
            dirty = True
            if record_timeline:
                timeline.append((now, procs_total - free, len(queue)))
        else:  # PRED: outlived its prediction: its limit, or the policy's next guess
            if t_end[i] < 0:
                dirty = True
                drop_end(i)
                t_limit_end = t_start[i] + reqs[i].limit_s
                t_next = policy.corrected_end(t_start[i], planned[i], now, t_limit_end)
                planned[i] = t_next
                if t_next < INF:
                    insort(ends, (t_next, jobs[i].procs))
                if t_next < t_limit_end and t_start[i] + run_s[i] > t_next:
                    heapq.heappush(heap, (t_next, o_pred, seq, PRED, i))
                    seq += 1
            if not policy.replan_on_correction or t_end[i] >= 0:
                continue
        if per_event or not heap or heap[0][0] != now:
            cycle(now)
    return SimResult(
        jobs, t_start, t_end, procs_total, n_cycles, policy.name, timeline, usage_log, t_expected
    )


_procs_of = attrgetter("procs")


def _priority_key(r: Req) -> tuple[float, float, int]:
    return (-r.priority, r.t_submit, r.job_id)
