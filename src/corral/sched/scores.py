"""Score functions that order a queue: the heuristics of the RL-scheduling
literature (RLScheduler, Zhang et al., SC'20), smallest score first.

Each takes a job's submit time, processors and runtime estimate and the
waiting time to use, and returns a sort key:

- fcfs:   submit time
- sjf:    (estimate, submit time)
- wfp3:   -(wait / estimate)^3 * procs
- unicep: -(wait + 1e-15) / (log2(procs + 1e-15) * estimate)
- f1:     log10(estimate) * procs + 870 * log10(submit time)
          (a non-positive estimate or submit time counts as 0.1)

RLScheduler's released code computes the waiting time of a queued job as
`scheduled_time - submit_time` with `scheduled_time == -1`, i.e. -(submit + 1);
`rlscheduler_key` copies that, so WFP3 and UNICEP keys are static there.
Stdlib only, like the rest of the core.
"""

from __future__ import annotations

import math
from collections.abc import Callable

ScoreKey = float | tuple[float, float]
ScoreFn = Callable[[float, int, float, float], ScoreKey]


def fcfs_score(submit: float, procs: int, estimate: float, wait: float) -> ScoreKey:
    return submit


def sjf_score(submit: float, procs: int, estimate: float, wait: float) -> ScoreKey:
    return (estimate, submit)


def wfp3_score(submit: float, procs: int, estimate: float, wait: float) -> ScoreKey:
    return -math.pow(float(wait) / estimate, 3) * procs


def unicep_score(submit: float, procs: int, estimate: float, wait: float) -> ScoreKey:
    return -(wait + 1e-15) / (math.log2(procs + 1e-15) * estimate)


def f1_score(submit: float, procs: int, estimate: float, wait: float) -> ScoreKey:
    est = estimate if estimate > 0 else 0.1
    sub = submit if submit > 0 else 0.1
    return math.log10(est) * procs + 870 * math.log10(sub)


SCORES: dict[str, ScoreFn] = {
    "fcfs": fcfs_score,
    "sjf": sjf_score,
    "wfp3": wfp3_score,
    "unicep": unicep_score,
    "f1": f1_score,
}


def rlscheduler_key(name: str, submit: float, procs: int, estimate: float) -> ScoreKey:
    """The key RLScheduler's code sorts a queued job by: its waiting time is
    taken as -(submit + 1) (the job's unset start time, -1, minus its submit)."""
    return SCORES[name](submit, procs, estimate, -1 - submit)
