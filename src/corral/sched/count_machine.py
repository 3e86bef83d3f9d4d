"""The one-resource machine: a count of identical processors.

The availability profile is built lazily. With at most one reservation (EASY's
head job) the textbook shadow-time / extra-processors test is exact and costs
O(1) per candidate, because without reservations the free count never
decreases over time. From the second reservation on (conservative
backfilling) the profile is materialized as a step function.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort

from corral.sched.request import Req

INF = math.inf


class CountMachine:
    """`ends` holds (t_expected_end, procs) of the running jobs, sorted; the list
    is extended in place when a job starts (the caller may pass a copy)."""

    __slots__ = (
        "_extra",
        "_fs",
        "_lb",
        "_mode",
        "_res0",
        "_shadow",
        "_ts",
        "ends",
        "free",
        "head_limit",
        "now",
        "total",
    )

    def __init__(
        self,
        total: int,
        free: int,
        ends: list[tuple[float, int]],
        now: float,
        head_starts_use_limit: bool = False,
    ) -> None:
        """`head_starts_use_limit`: jobs started before any reservation is made
        are planned to end at their limit rather than after their planning
        duration (CQSim rebuilds its profile from running jobs' requests after
        starting the head jobs, while queued jobs are planned with runtimes)."""
        self.head_limit = head_starts_use_limit
        self.total = total
        self.free = free
        self.now = now
        after_now = math.nextafter(now, INF)
        # A job past its expected end is expected to end at any moment.
        if ends and ends[0][0] <= now:
            ends = sorted((max(t, after_now), p) for t, p in ends)
        self.ends = ends
        self._mode = 0  # 0: no reservation, 1: one (textbook test), 2: profile
        self._shadow = INF
        self._extra = 0
        self._ts: list[float] = []
        self._fs: list[int] = []
        self._res0: tuple[float, float, int] = (INF, INF, 0)
        self._lb: dict[int, float] = {}

    # -- protocol ----------------------------------------------------------
    def could_ever_fit(self, req: Req) -> bool:
        return req.procs <= self.total

    def candidates(self, reqs: list[Req]) -> list[Req]:
        free = self.free
        if self._mode == 1:  # the same test as try_start, in one comprehension
            now, shadow, extra = self.now, self._shadow, self._extra
            return [
                r for r in reqs if r.procs <= free and (r.procs <= extra or now + r.dur_s <= shadow)
            ]
        return [r for r in reqs if r.procs <= free]

    def advance(self, now: float) -> None:
        """Move the machine's clock forward to `now`; no planned end or booking
        may lie in between (the caller checks)."""
        if self._ts:
            self._ts[0] = now
        self.now = now

    def exhausted(self) -> bool:
        return self.free <= 0

    def try_start(self, req: Req) -> tuple[str, ...] | None:
        p = req.procs
        if p > self.free:
            return None
        t_end = self.now + req.dur_s
        mode = self._mode
        if mode == 1:
            if t_end > self._shadow:
                if p > self._extra:
                    return None
                self._extra -= p
        elif mode == 2:
            if not self._fits_profile(p, t_end):
                return None
            self._book(self.now, t_end, p)
        self.free -= p
        if mode == 0 and self.head_limit:
            t_end = self.now + req.limit_s
        if t_end < INF:
            insort(self.ends, (t_end, p))
        return ()

    def reserve(self, req: Req, t_min: float = -INF) -> float:
        p = req.procs
        if p > self.total:
            return INF
        if self._mode == 0 and t_min <= self.now:
            self._mode = 1
            shadow, free_then = self._first_time_free(p)
            self._shadow = shadow
            self._extra = free_then - p
            self._res0 = (shadow, shadow + req.dur_s, p)
            return shadow
        if self._mode < 2:
            self._materialize()
            self._mode = 2
        t0 = self._earliest(p, req.dur_s, t_min)
        if t0 < INF:
            self._book(t0, t0 + req.dur_s, p)
        return t0

    # -- single reservation ------------------------------------------------
    def _first_time_free(self, p: int) -> tuple[float, int]:
        acc = self.free
        if acc >= p:
            return self.now, acc
        ends = self.ends
        n = len(ends)
        i = 0
        while i < n:
            t = ends[i][0]
            while i < n and ends[i][0] == t:
                acc += ends[i][1]
                i += 1
            if acc >= p:
                return t, acc
        return INF, acc

    # -- general profile ---------------------------------------------------
    def _materialize(self) -> None:
        ts = [self.now]
        fs = [self.free]
        for t, p in self.ends:
            if t == ts[-1]:
                fs[-1] += p
            else:
                ts.append(t)
                fs.append(fs[-1] + p)
        self._ts = ts
        self._fs = fs
        t0, t1, p = self._res0
        if t0 < INF:
            self._book(t0, t1, p)

    def _fits_profile(self, p: int, t_end: float) -> bool:
        ts, fs = self._ts, self._fs
        n = len(ts)
        j = 0
        while j < n and ts[j] < t_end:
            if fs[j] < p:
                return False
            j += 1
        return True

    def _earliest(self, p: int, d: float, t_min: float) -> float:
        ts, fs = self._ts, self._fs
        n = len(ts)
        # Bookings only take processors away, so the first time p processors
        # were free at an earlier query of this cycle is a lower bound now.
        t_lb = max(t_min, self._lb.get(p, -INF))
        i = max(0, bisect_left(ts, t_lb) - 1) if t_lb > self.now else 0
        first = True
        while i < n:
            if fs[i] < p:
                i += 1
                continue
            if first:
                self._lb[p] = ts[i]
                first = False
            t0 = max(ts[i], t_min)
            t_need = t0 + d
            j = i + 1
            while j < n and ts[j] < t_need:
                if fs[j] < p:
                    break
                j += 1
            else:
                return t0
            i = j + 1
        return INF

    def _split(self, t: float) -> int:
        ts = self._ts
        k = bisect_left(ts, t)
        if k < len(ts) and ts[k] == t:
            return k
        ts.insert(k, t)
        self._fs.insert(k, self._fs[k - 1])
        return k

    def _book(self, t0: float, t1: float, p: int) -> None:
        i0 = self._split(t0)
        i1 = self._split(t1) if t1 < INF else len(self._ts)
        fs = self._fs
        fs[i0:i1] = [f - p for f in fs[i0:i1]]

    def free_at(self, t: float) -> int:
        """Free processors at time t (for tests and reports)."""
        if self._mode < 2:
            acc = self.free
            for te, p in self.ends:
                if te <= t:
                    acc += p
            if self._mode == 1:
                t0, t1, p = self._res0
                if t0 <= t < t1:
                    acc -= p
            return acc
        k = bisect_left(self._ts, t)
        if k == len(self._ts) or self._ts[k] != t:
            k -= 1
        return self._fs[k]
