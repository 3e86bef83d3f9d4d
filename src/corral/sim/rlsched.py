"""RLScheduler-compatible replay: the protocol behind the heuristic tables of
Zhang et al. (SC'20), as /shared/traces/SEMANTICS.md describes it.

Not a whole-trace replay: 10 windows of 1,024 consecutive jobs, each on an
empty machine; one decision at a time (sort the queue by a score, take the
head, wait for it if it does not fit, never re-choose it); an optional
"backfilling" with a shadow time computed once per blocked head; no kills.
A table cell is the mean over the windows of the window's mean bounded
slowdown, or of its utilization.

The loop mirrors RLScheduler's own (`schedule_curr_sequence_reset` and the
functions it calls) step for step, lists and stable sorts included, because
ties in a score are broken by the queue's current order:

- after a job starts, the next is chosen at the same time from what is
  queued; arrivals are only taken in while the head waits, or one at a time
  when the queue is empty;
- while the head waits, time moves one event at a time: the next arrival if
  it comes no later than the next end (arrivals first on ties), else the
  earliest-ending running job releases its nodes;
- backfilling (when the head does not fit): shadow = the planned end
  (start + estimate) of the running job whose release makes enough processors
  free, computed once; then, before every event, every queued job in submit
  order that fits now and whose now + estimate < shadow starts.
- the utilization's time span ends at the clock when the last job started
  (RLScheduler's `current_timestamp` when the window is done).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

from corral.sched.scores import SCORES, ScoreKey, rlscheduler_key
from corral.sim.swf import SwfRecord, Trace, read_swf

# 0-based start indices of the 10 test windows (RLScheduler's
# compare-make-table run with seed 1 on 10,000-job traces).
WINDOW_STARTS = (1981, 2756, 4299, 8850, 3316, 2714, 5228, 7762, 4022, 7085)
WINDOW_JOBS = 1024
RL_POLICIES = tuple(SCORES)
TAU_S = 10.0


@dataclass(frozen=True, slots=True)
class RLJob:
    job_id: int
    submit: int
    run: int
    estimate: int
    procs: int


@dataclass(frozen=True, slots=True)
class WindowResult:
    start_index: int
    jobs: int
    mean_bounded_slowdown: float
    utilization: float
    mean_wait_s: float
    t_first_submit: float
    t_clock_end: float  # clock when the last job started
    starts: tuple[int, ...]  # start time of each job of the window, in trace order


@dataclass(frozen=True, slots=True)
class CellResult:
    trace: str
    policy: str
    backfill: bool
    nodes: int
    procs: int
    windows: tuple[WindowResult, ...]

    @property
    def mean_bounded_slowdown(self) -> float:
        return sum(w.mean_bounded_slowdown for w in self.windows) / len(self.windows)

    @property
    def utilization(self) -> float:
        return sum(w.utilization for w in self.windows) / len(self.windows)

    @property
    def mean_wait_s(self) -> float:
        return sum(w.mean_wait_s for w in self.windows) / len(self.windows)

    def to_dict(self) -> dict[str, object]:
        return {
            "trace": self.trace,
            "policy": self.policy,
            "preset": "rlscheduler",
            "backfill": self.backfill,
            "nodes": self.nodes,
            "procs": self.procs,
            "windows": len(self.windows),
            "window_jobs": self.windows[0].jobs if self.windows else 0,
            "mean_bounded_slowdown": self.mean_bounded_slowdown,
            "utilization": self.utilization,
            "mean_wait_s": self.mean_wait_s,
            "per_window": [
                {
                    "start_index": w.start_index,
                    "mean_bounded_slowdown": w.mean_bounded_slowdown,
                    "utilization": w.utilization,
                }
                for w in self.windows
            ],
        }


def load_jobs(records: list[SwfRecord]) -> list[RLJob]:
    """RLScheduler's loader: processors = max(field 5, field 8); estimate -1 ->
    the runtime (before the next fix); runtime < 0 -> 10 s; runtime 0 dropped;
    sorted by job id."""
    out = []
    for r in records:
        run = int(r.run_s)
        est = int(r.limit_s)
        if est == -1:
            est = run
        if run < 0:
            run = 10
        if run > 0:
            out.append(RLJob(r.job_id, int(r.t_submit), run, est, max(r.procs_alloc, r.procs_req)))
    out.sort(key=lambda j: j.job_id)
    return out


def machine_of(trace: Trace) -> tuple[int, int, float]:
    """(MaxNodes, MaxProcs, processors per node) as RLScheduler derives them."""
    nodes = trace.header_int("MaxNodes") or 0
    procs = trace.header_int("MaxProcs") or 0
    if procs == 0:
        procs = nodes
    if nodes <= 0:
        raise ValueError(f"{trace.name}: no MaxNodes in the header")
    return nodes, procs, procs / nodes


def run_window(
    jobs: list[RLJob],
    start: int,
    n_jobs: int,
    policy: str,
    backfill: bool,
    nodes_total: int,
    procs_total: int,
    ppn: float,
) -> WindowResult:
    if policy not in SCORES:
        raise ValueError(f"unknown policy {policy!r} (choose from {', '.join(SCORES)})")
    last = start + n_jobs
    if start < 0 or last > len(jobs):
        raise ValueError(f"window [{start}, {last}) is outside the trace ({len(jobs)} jobs)")
    win = jobs[start:last]
    submit = [j.submit for j in win]
    run = [j.run for j in win]
    est = [j.estimate for j in win]
    need = [math.ceil(float(j.procs) / float(ppn)) for j in win]
    key: list[ScoreKey] = [rlscheduler_key(policy, j.submit, j.procs, j.estimate) for j in win]
    key_of = key.__getitem__
    submit_of = submit.__getitem__
    started = [-1] * n_jobs
    held = [0] * n_jobs  # nodes held by a running job

    def end_of(k: int) -> int:
        return started[k] + run[k]

    def planned_end_of(k: int) -> int:
        return started[k] + est[k]

    free = nodes_total
    queue: list[int] = [0]
    running: list[int] = []
    nxt = 1
    now = submit[0]

    def start_job(k: int) -> None:
        nonlocal free
        started[k] = now
        held[k] = need[k]
        free -= need[k]
        running.append(k)

    def step() -> None:
        """One event: the next arrival if no later than the next end, else a release."""
        nonlocal now, nxt, free
        if not running:
            raise ValueError(f"job {win[queue[0]].job_id} can never fit the machine")
        running.sort(key=end_of)
        t_rel = end_of(running[0])
        if nxt < n_jobs and submit[nxt] <= t_rel:
            now = max(now, submit[nxt])
            queue.append(nxt)
            nxt += 1
        else:
            now = max(now, t_rel)
            free += held[running.pop(0)]

    while True:
        queue.sort(key=key_of)
        head = queue[0]
        if need[head] > free:
            if backfill:
                running.sort(key=planned_end_of)
                shadow = now
                avail = free * ppn
                for k in running:
                    avail += held[k] * ppn
                    shadow = planned_end_of(k)
                    if avail >= win[head].procs:
                        break
                while need[head] > free:
                    queue.sort(key=submit_of)
                    for k in list(queue):
                        if now + est[k] < shadow and need[k] <= free:
                            start_job(k)
                            queue.remove(k)
                    step()
            else:
                while need[head] > free:
                    step()
        start_job(head)
        queue.remove(head)
        if queue:
            continue
        if nxt >= n_jobs:
            break
        while not queue:  # the queue is empty: take in the next arrival
            if running:
                running.sort(key=end_of)
                t_rel = end_of(running[0])
            else:
                t_rel = sys.maxsize  # nothing runs: always take the arrival
            if submit[nxt] <= t_rel:
                now = max(now, submit[nxt])
                queue.append(nxt)
                nxt += 1
            else:
                now = max(now, t_rel)
                free += held[running.pop(0)]

    bsld = 0.0
    wait = 0.0
    area = 0.0
    for k in range(n_jobs):
        w = started[k] - submit[k]
        wait += w
        bsld += max(1.0, float(w + run[k]) / max(run[k], TAU_S))
        area += float(run[k] * win[k].procs)
    span = (now - submit[0]) * procs_total
    return WindowResult(
        start_index=start,
        jobs=n_jobs,
        mean_bounded_slowdown=bsld / n_jobs,
        utilization=area / span if span > 0 else 0.0,
        mean_wait_s=wait / n_jobs,
        t_first_submit=submit[0],
        t_clock_end=now,
        starts=tuple(started),
    )


def table_cell(
    trace: str | Path | Trace,
    policy: str,
    backfill: bool = False,
    starts: tuple[int, ...] = WINDOW_STARTS,
    window_jobs: int = WINDOW_JOBS,
) -> CellResult:
    """One cell of RLScheduler's heuristic tables for `trace` (a path or a
    read Trace): the per-window results and their means."""
    tr = trace if isinstance(trace, Trace) else read_swf(trace)
    nodes, procs, ppn = machine_of(tr)
    jobs = load_jobs(tr.records)
    windows = tuple(
        run_window(jobs, s, window_jobs, policy, backfill, nodes, procs, ppn) for s in starts
    )
    return CellResult(tr.name, policy, backfill, nodes, procs, windows)
