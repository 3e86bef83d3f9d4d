"""The dashboard's plots as numbers: utilization over time, queue length, the wait-time
distribution and usage per account, over a period, from jobs' records.

Pure functions of (submit, start, end, CPUs, account, uid) records; services read the
records (web/history.py). A time series is the average over each bucket of the
period (not a sample at its edge), so a job shorter than a bucket still counts for
the share of it that it ran or waited.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# period name -> (length, bucket), seconds
PERIODS: dict[str, tuple[int, int]] = {
    "hour": (3600, 60),
    "day": (86400, 900),
    "week": (7 * 86400, 2 * 3600),
    "month": (30 * 86400, 12 * 3600),
}

# the wait-time histogram's bins: (upper bound in seconds, label); the last is open
WAIT_BINS: tuple[tuple[float, str], ...] = (
    (60, "< 1 min"), (300, "1-5 min"), (900, "5-15 min"), (3600, "15-60 min"),
    (4 * 3600, "1-4 h"), (12 * 3600, "4-12 h"), (86400, "12-24 h"),
    (math.inf, "> 1 day"),
)
TOP_ACCOUNTS = 10  # accounts shown one by one; the rest are summed as "(others)"
NO_ACCOUNT = "(none)"


@dataclass(frozen=True, slots=True)
class Record:
    """What the plots need of one job (times in epoch seconds)."""

    t_submit: float
    t_start: float | None
    t_end: float | None  # None: not ended yet
    cpus: int
    account: str | None
    uid: int


def bucket_edges(t_end_s: float, period: str) -> list[float]:
    """The period's bucket edges, the last at `t_end_s` (ValueError: unknown period)."""
    if period not in PERIODS:
        raise ValueError(f"period: {period!r} is not one of {', '.join(PERIODS)}")
    length_s, step_s = PERIODS[period]
    n = length_s // step_s
    return [t_end_s - (n - i) * step_s for i in range(n + 1)]


def averaged(intervals: Iterable[tuple[float, float, float]],
             edges: Sequence[float]) -> list[float]:
    """For each bucket between consecutive edges, the time-average of the summed
    weights of the (start, end, weight) intervals over it. One sweep: O(n log n)."""
    t0, t1 = edges[0], edges[-1]
    changes: list[tuple[float, float]] = []
    for start, end, w in intervals:
        a, b = max(start, t0), min(end, t1)
        if b > a and w:
            changes.append((a, w))
            changes.append((b, -w))
    changes.sort()
    sums = [0.0] * (len(edges) - 1)
    level, t_prev, k = 0.0, t0, 0
    for t, dw in [*changes, (t1, 0.0)]:
        while k < len(sums) and edges[k + 1] <= t:  # buckets that end before t
            sums[k] += level * (edges[k + 1] - t_prev)
            t_prev = edges[k + 1]
            k += 1
        if k < len(sums):
            sums[k] += level * (t - t_prev)
        t_prev = t
        level += dw
    return [s / (edges[i + 1] - edges[i]) for i, s in enumerate(sums)]


def running(records: Iterable[Record], now: float) -> list[tuple[float, float, float]]:
    """(start, end, CPUs) of each job that ran (a running one: until now)."""
    return [(r.t_start, r.t_end if r.t_end is not None else now, float(r.cpus))
            for r in records if r.t_start is not None]


def waiting(records: Iterable[Record], now: float) -> list[tuple[float, float, float]]:
    """(submit, start — or end, for a job that never started —, 1) of each job."""
    out = []
    for r in records:
        t = r.t_start if r.t_start is not None else r.t_end
        out.append((r.t_submit, t if t is not None else now, 1.0))
    return out


@dataclass
class Tally:
    """The distributions one group of jobs (everyone's, or one user's) contributes."""

    wait_counts: list[int] = field(default_factory=lambda: [0] * len(WAIT_BINS))
    cpu_s_by_account: dict[str, float] = field(default_factory=dict)

    def add(self, r: Record, t0: float, t1: float, now: float) -> None:
        if r.t_start is not None and t0 <= r.t_start < t1:
            wait_s = max(0.0, r.t_start - r.t_submit)
            self.wait_counts[next(i for i, (top, _) in enumerate(WAIT_BINS)
                                  if wait_s < top)] += 1
        if r.t_start is not None:
            end = r.t_end if r.t_end is not None else now
            ran_s = min(end, t1) - max(r.t_start, t0)
            if ran_s > 0:
                key = r.account or NO_ACCOUNT
                self.cpu_s_by_account[key] = self.cpu_s_by_account.get(key, 0.0) + \
                    ran_s * r.cpus

    def accounts(self, top: int = TOP_ACCOUNTS) -> list[tuple[str, float]]:
        """(account, CPU-hours), the largest first; the rest summed as "(others)"."""
        ranked = sorted(self.cpu_s_by_account.items(), key=lambda kv: (-kv[1], kv[0]))
        out = [(a, s / 3600) for a, s in ranked[:top]]
        rest = sum(s for _, s in ranked[top:])
        if rest > 0:
            out.append(("(others)", rest / 3600))
        return out


@dataclass
class Series:
    """Everything the plots page draws for one period."""

    period: str
    edges: list[float]
    cpus_total: int
    utilization_pct: list[float]  # allocated CPUs / the cluster's CPUs, per bucket
    queue_length: list[float]  # jobs waiting, averaged per bucket
    everyone: Tally
    by_uid: dict[int, Tally]
    jobs_counted: int
    truncated: bool  # more jobs than were read: the oldest are missing

    def tally_for(self, uid: int | None) -> Tally:
        """Everyone's (None), or one user's jobs only."""
        if uid is None:
            return self.everyone
        return self.by_uid.get(uid) or Tally()


def compute(records: Sequence[Record], *, period: str, now: float, cpus_total: int,
            truncated: bool = False) -> Series:
    edges = bucket_edges(now, period)
    t0, t1 = edges[0], edges[-1]
    allocated = averaged(running(records, now), edges)
    util = [round(100.0 * a / cpus_total, 2) if cpus_total else 0.0 for a in allocated]
    queue = [round(q, 3) for q in averaged(waiting(records, now), edges)]
    everyone = Tally()
    by_uid: dict[int, Tally] = {}
    for r in records:
        everyone.add(r, t0, t1, now)
        tally = by_uid.get(r.uid)
        if tally is None:
            tally = by_uid[r.uid] = Tally()
        tally.add(r, t0, t1, now)
    return Series(period, edges, cpus_total, util, queue, everyone, by_uid, len(records),
                  truncated)
