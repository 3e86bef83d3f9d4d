"""Replay metrics (SEMANTICS.md): wait, bounded slowdown, utilization, makespan."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import fmean, median
from typing import Any

from corral.sim.engine import SimResult

TAU_S = 10.0  # bounded-slowdown threshold


@dataclass(frozen=True, slots=True)
class Metrics:
    jobs: int  # jobs averaged
    jobs_simulated: int
    mean_wait_s: float
    mean_bounded_slowdown: float
    utilization: float
    makespan_s: float  # last end - first submit
    max_wait_s: float
    cycles: int
    # the tail of the waits, less hostage to one job's history than the longest
    p99_wait_s: float = 0.0  # 99th percentile (nearest rank)
    top100_wait_s: float = 0.0  # mean of the 100 longest (all, when fewer)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compute(res: SimResult, only_valid: bool = True) -> Metrics:
    jobs = res.jobs
    n_avg = 0
    sum_wait = 0.0
    sum_bsld = 0.0
    max_wait = 0.0
    waits: list[float] = []
    area = 0.0
    first_submit = min((j.t_submit for j in jobs), default=0.0)
    last_end = first_submit
    for k, j in enumerate(jobs):
        start, end = res.t_start[k], res.t_end[k]
        if start < 0 or end < 0:
            continue  # never ran (cannot happen once the replay completes)
        run = end - start
        area += j.procs * run
        last_end = max(last_end, end)
        if only_valid and not j.valid:
            continue
        wait = start - j.t_submit
        n_avg += 1
        sum_wait += wait
        max_wait = max(max_wait, wait)
        waits.append(wait)
        sum_bsld += max(1.0, (wait + run) / max(run, TAU_S))
    makespan = last_end - first_submit
    waits.sort()
    util = area / (res.procs_total * makespan) if makespan > 0 else 0.0
    return Metrics(
        jobs=n_avg,
        jobs_simulated=len(jobs),
        mean_wait_s=sum_wait / n_avg if n_avg else 0.0,
        mean_bounded_slowdown=sum_bsld / n_avg if n_avg else 0.0,
        utilization=util,
        makespan_s=makespan,
        max_wait_s=max_wait,
        cycles=res.n_cycles,
        p99_wait_s=_nearest_rank(waits, 0.99),
        top100_wait_s=fmean(waits[-100:]) if waits else 0.0,
    )


def _nearest_rank(ascending: list[float], q: float) -> float:
    """The q-quantile of sorted values by nearest rank: the smallest value with
    at least q of the values at or below it (0 for none)."""
    if not ascending:
        return 0.0
    return ascending[max(0, math.ceil(q * len(ascending)) - 1)]


@dataclass(frozen=True, slots=True)
class StartAccuracy:
    """How far the start promised at submit was from the start that came
    (replays with expected_starts). Absolute errors in seconds, over the jobs
    given a finite expected start, and over those of them that had to wait
    (a job started at submit was promised its submit time: error 0)."""

    jobs_with_estimate: int
    jobs_waiting: int  # of those, jobs not started at submit
    median_abs_error_s: float
    mean_abs_error_s: float
    median_abs_error_waiting_s: float
    mean_abs_error_waiting_s: float
    late_fraction: float  # waiting jobs that started after their promise

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def start_accuracy(res: SimResult) -> StartAccuracy | None:
    """None when the replay gave no expected starts."""
    if not res.t_expected:
        return None
    errs: list[float] = []
    errs_waiting: list[float] = []
    late = 0
    for k, j in enumerate(res.jobs):
        promised, start = res.t_expected[k], res.t_start[k]
        if promised < 0 or promised == float("inf") or start < 0:
            continue
        e = abs(start - promised)
        errs.append(e)
        if start > j.t_submit or promised > j.t_submit:
            errs_waiting.append(e)
            late += start > promised
    return StartAccuracy(
        jobs_with_estimate=len(errs),
        jobs_waiting=len(errs_waiting),
        median_abs_error_s=median(errs) if errs else 0.0,
        mean_abs_error_s=fmean(errs) if errs else 0.0,
        median_abs_error_waiting_s=median(errs_waiting) if errs_waiting else 0.0,
        mean_abs_error_waiting_s=fmean(errs_waiting) if errs_waiting else 0.0,
        late_fraction=late / len(errs_waiting) if errs_waiting else 0.0,
    )
