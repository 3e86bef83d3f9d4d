"""The dashboard's plots as numbers: utilization over time, queue length, the wait-time
distribution and usage per account, over a period, from jobs' records.

Pure functions of (submit, start, end, CPUs, account, uid) records; services read the
records (web/history.py). A time series is the average over each bucket of the
period (not a sample at its edge), so a job shorter than a bucket still counts for
the share of it that it ran or waited.
"""

from __future__ import annotations

import math
from bisect import bisect_right
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
_WAIT_TOPS = [top for top, _ in WAIT_BINS[:-1]]  # a wait below tops[i]: bin i
TOP_ACCOUNTS = 10  # accounts shown one by one; the rest are summed as "(others)"
NO_ACCOUNT = "(none)"


def shown(x: float) -> float:
    """A value as the plots send it: 4 significant digits (a tiny share stays > 0)."""
    return float(f"{x:.4g}")


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
    """For each bucket between consecutive (evenly spaced) edges, the time-average of
    the summed weights of the (start, end, weight) intervals over it. O(intervals +
    buckets): the partial first and last buckets of an interval directly, the whole
    ones between as a difference array."""
    n = len(edges) - 1
    t0, t1 = edges[0], edges[-1]
    step = (t1 - t0) / n
    sums = [0.0] * n
    whole = [0.0] * (n + 1)  # difference array of weights over whole buckets
    for start, end, w in intervals:
        a, b = max(start, t0), min(end, t1)
        if not (b > a and w):
            continue
        ia = min(n - 1, int((a - t0) / step))
        ib = min(n - 1, int((b - t0) / step))
        if ia == ib:
            sums[ia] += w * (b - a)
            continue
        sums[ia] += w * (edges[ia + 1] - a)
        sums[ib] += w * (b - edges[ib])
        whole[ia + 1] += w
        whole[ib] -= w
    level = 0.0
    for k in range(n):
        level += whole[k]
        sums[k] += level * step
    return [x / step for x in sums]


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
        t_start = r.t_start
        if t_start is None:
            return
        if t0 <= t_start < t1:
            self.wait_counts[bisect_right(_WAIT_TOPS, t_start - r.t_submit)] += 1
        ran_s = min(r.t_end if r.t_end is not None else now, t1) - max(t_start, t0)
        if ran_s > 0:
            key = r.account or NO_ACCOUNT
            cpu_s = self.cpu_s_by_account
            cpu_s[key] = cpu_s.get(key, 0.0) + ran_s * r.cpus

    def merge(self, other: Tally) -> None:
        for i, n in enumerate(other.wait_counts):
            self.wait_counts[i] += n
        for k, v in other.cpu_s_by_account.items():
            self.cpu_s_by_account[k] = self.cpu_s_by_account.get(k, 0.0) + v

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
            truncated: bool = False, utilization: bool = True) -> Series:
    """`utilization` False: not computed (all 0; the accounting reports give it)."""
    edges = bucket_edges(now, period)
    t0, t1 = edges[0], edges[-1]
    util = [0.0] * (len(edges) - 1)
    if utilization:
        allocated = averaged(running(records, now), edges)
        util = [shown(100.0 * a / cpus_total) if cpus_total else 0.0 for a in allocated]
    queue = [shown(q) for q in averaged(waiting(records, now), edges)]
    by_uid: dict[int, Tally] = {}
    for r in records:
        tally = by_uid.get(r.uid)
        if tally is None:
            tally = by_uid[r.uid] = Tally()
        tally.add(r, t0, t1, now)
    everyone = Tally()
    for tally in by_uid.values():
        everyone.merge(tally)
    return Series(period, edges, cpus_total, util, queue, everyone, by_uid, len(records),
                  truncated)
