"""Conservative backfilling that keeps its plan (Mu'alem-Feitelson, as pyss).

A job gets a reservation when it arrives: the earliest time it fits on the
availability profile around the running jobs and every earlier reservation,
and it starts when the clock reaches it. When a job ends before its planned
end, the freed tail may let reserved jobs move earlier: the plan is
*compressed*, each reserved job in queue order is taken off the profile and
put back at its earliest time (later jobs keep their reservations meanwhile,
so a job never moves later). Nothing else changes a reservation.

The profile is kept between events and updated in place: a booking per
arrival, an unbooking per early end, an unbook and a rebook per job that
moves. `KeptPlan(rebuild=True)` instead rebuilds the profile from the running
jobs and the reservations before every operation (the reference the
incremental one is tested against).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from itertools import accumulate
from operator import itemgetter

INF = math.inf
_first = itemgetter(0)


class Profile:
    """Free processors over time: `fs[i]` are free on [ts[i], ts[i+1]); the
    last step lasts forever."""

    __slots__ = ("fs", "total", "ts")

    def __init__(self, total: int, now: float) -> None:
        self.total = total
        self.ts: list[float] = [now]
        self.fs: list[int] = [total]

    def advance(self, now: float) -> None:
        """Forget the steps that ended by `now`."""
        ts = self.ts
        if now <= ts[0]:
            return
        k = bisect_right(ts, now) - 1
        if k > 0:
            del ts[:k]
            del self.fs[:k]
        ts[0] = now

    def _split(self, t: float) -> int:
        ts = self.ts
        k = bisect_left(ts, t)
        if k < len(ts) and ts[k] == t:
            return k
        ts.insert(k, t)
        self.fs.insert(k, self.fs[k - 1])
        return k

    def add(self, t0: float, t1: float, p: int) -> None:
        """Add `p` free processors on [t0, t1) (negative: book them). Steps
        left equal to their predecessor are merged."""
        t0 = max(t0, self.ts[0])
        if t1 <= t0:
            return
        i0 = self._split(t0)
        i1 = self._split(t1) if t1 < INF else len(self.ts)
        fs = self.fs
        fs[i0:i1] = map(p.__add__, fs[i0:i1])  # in C
        ts = self.ts
        if i1 < len(ts) and fs[i1] == fs[i1 - 1]:
            del ts[i1]
            del fs[i1]
        if i0 > 0 and fs[i0] == fs[i0 - 1]:
            del ts[i0]
            del fs[i0]

    def earliest(
        self, p: int, d: float, t_min: float, t_before: float = INF, t_own: float = INF
    ) -> float:
        """The earliest t >= t_min (and < t_before) such that `p` processors
        are free during [t, t + d); INF if none. From `t_own` on, the job's
        own booking counts as free (a window need only fit until then)."""
        ts, fs = self.ts, self.fs
        n = len(ts)
        i = max(0, bisect_right(ts, t_min) - 1)
        lim = n if t_before == INF else bisect_left(ts, t_before)
        while True:
            while i < lim and fs[i] < p:
                i += 1
            if i >= lim:
                return INF
            t0 = ts[i] if ts[i] > t_min else t_min
            if t0 >= t_before:
                return INF
            t_need = t0 + d
            if t_need > t_own:  # noqa: PLR1730 (min() costs a call here, the hot loop)
                t_need = t_own
            # the steps the window overlaps after its first: in C (bisect, a
            # slice's min) rather than a Python loop over them
            e = bisect_left(ts, t_need, i + 1)
            if e == i + 1:
                return t0
            window = fs[i + 1 : e]
            if min(window) >= p:
                return t0
            # No window starting at or before the last step short of room
            # fits either (it would overlap that step): go on after it.
            k = len(window) - 1
            while window[k] >= p:
                k -= 1
            i += k + 2

    def may_start_before(self, p: int, d: float, s: float) -> bool:
        """Whether a job booked on [s, s + d) with `p` processors would fit
        somewhere earlier once taken off: exactly when the step just before s
        has `p` free (the window then runs into the job's own room), or a run
        of at least `d` with `p` free lies before s; the second needs at least
        one step with `p` free before s."""
        ts, fs = self.ts, self.fs
        k = bisect_left(ts, s)
        if k == 0:
            return False
        if fs[k - 1] >= p:
            return True
        return d < s - ts[0] and max(fs[: k - 1], default=0) >= p

    def steps(self) -> list[tuple[float, int]]:
        return list(zip(self.ts, self.fs, strict=True))


class KeptPlan:
    """Running jobs (start, planned end, processors) and reservations (start,
    planning duration, processors) keyed by job; reservations in queue order."""

    __slots__ = ("_due", "_rebuild", "now", "prof", "reserved", "running", "total")

    def __init__(self, total: int, now: float = 0.0, *, rebuild: bool = False) -> None:
        self.total = total
        self.now = now
        self.prof = Profile(total, now)
        self.running: dict[int, tuple[float, float, int]] = {}
        self.reserved: dict[int, tuple[float, float, int]] = {}
        self._rebuild = rebuild
        self._due: list[tuple[float, int]] = []  # (start, job), lazily invalidated

    def _at(self, now: float, without: int | None = None) -> Profile:
        self.now = now
        if self._rebuild:
            prof = Profile(self.total, now)
            for _, t_end, p in self.running.values():
                prof.add(now, t_end, -p)
            for k, (s, d, p) in self.reserved.items():
                if k != without:
                    prof.add(s, s + d, -p)
            self.prof = prof
        else:
            self.prof.advance(now)
        return self.prof

    def arrive(self, key: int, procs: int, dur_s: float, now: float) -> float:
        """Reserve the earliest time the job fits; returns it (INF if the job
        can never fit, and then it is not kept)."""
        prof = self._at(now)
        if procs > self.total:
            return INF
        s = prof.earliest(procs, dur_s, now)
        if s < INF:
            prof.add(s, s + dur_s, -procs)
            self.reserved[key] = (s, dur_s, procs)
            heapq.heappush(self._due, (s, key))
        return s

    def start(self, now: float) -> list[int]:
        """The reserved jobs whose start is now (by start time, then job);
        they become running (their booking stays, ending at start +
        duration)."""
        self._at(now)
        due: list[int] = []
        heap, res = self._due, self.reserved
        while heap and heap[0][0] <= now:
            s0, k = heapq.heappop(heap)
            entry = res.get(k)
            if entry is None or entry[0] != s0:
                continue  # moved since
            s, d, p = res.pop(k)
            self.running[k] = (s, s + d, p)
            due.append(k)
        return due

    def end(self, key: int, now: float) -> bool:
        """A running job ended; True if it ended before its planned end (its
        tail is freed: call `compress`)."""
        prof = self._at(now)
        _, t_end, p = self.running.pop(key)
        if now < t_end:
            if not self._rebuild:
                prof.add(now, t_end, p)
            return True
        return False

    def compress(self, now: float) -> list[tuple[int, float]]:
        """Move each reservation due after now to its earliest time, in queue
        order; returns the (job, new start) that moved."""
        if self._rebuild:
            return self._compress_rebuilt(now)
        prof = self._at(now)
        moved: list[tuple[int, float]] = []
        res = self.reserved
        ts, fs = prof.ts, prof.fs  # updated in place by prof.add
        # peak[i]: max(fs[: i + 1]); a move changes the profile from its new
        # start on, so only the entries from there are dropped and recomputed
        peak: list[int] = []
        # (processors, duration) -> the latest bound before which a search
        # found no window, since the last move
        none_by: dict[tuple[int, float], float] = {}
        for k, (s, d, p) in res.items():
            if s <= now:
                continue  # due now: as good as started
            # Could it start earlier once taken off (Profile.may_start_before)?
            i = bisect_left(ts, s)
            if fs[i - 1] < p:
                # A window must end before the step short of room: by ts[i - 1].
                if i < 2 or d > ts[i - 1] - now:
                    continue
                if len(peak) < i - 1:
                    _extend_peaks(peak, fs, i - 1)
                if peak[i - 2] < p:
                    continue
                # Taken off, the job leaves at least p free from s on: a
                # window starting before s need only fit until s, so it must
                # lie whole in [now, ts[i - 1]]. Whether one does depends
                # only on (p, d), that bound and the profile before it (no
                # other job's own booking is there): a search that found
                # none answers for every later one with a bound no later,
                # until a move changes the profile.
                bound = ts[i - 1]
                shape = (p, d)
                if none_by.get(shape, -INF) >= bound:
                    continue
                s_new = prof.earliest(p, d, now, s, s)
                if s_new == INF:
                    none_by[shape] = bound
                    continue
            else:
                # The run of steps with p free that ends at s is a fit (it
                # continues into the job's own room); an earlier one must fit
                # whole before that run.
                r = i - 1
                while r > 0 and fs[r - 1] >= p:
                    r -= 1
                t_run = ts[r]
                s_new = t_run
                if d < t_run - now and r >= 2:
                    if len(peak) < r - 1:
                        _extend_peaks(peak, fs, r - 1)
                    if peak[r - 2] >= p:
                        s_new = min(s_new, prof.earliest(p, d, now, t_run))
            if s_new + d <= s:
                prof.add(s_new, s_new + d, -p)
                prof.add(s, s + d, p)
            else:  # the overlap keeps its booking
                prof.add(s_new, s, -p)
                prof.add(s_new + d, s + d, p)
            del peak[bisect_left(ts, s_new) :]
            res[k] = (s_new, d, p)
            if none_by:
                none_by = {}
            moved.append((k, s_new))
        if moved:  # one heap of the starts, not a stale entry per move
            self._due = list(zip(map(_first, res.values()), res, strict=True))
            heapq.heapify(self._due)
        return moved

    def _compress_rebuilt(self, now: float) -> list[tuple[int, float]]:
        moved: list[tuple[int, float]] = []
        res = self.reserved
        for k, (s, d, p) in res.items():
            if s <= now:
                continue
            s_new = self._at(now, without=k).earliest(p, d, now)
            if s_new != s:
                res[k] = (s_new, d, p)
                heapq.heappush(self._due, (s_new, k))
                moved.append((k, s_new))
        self._at(now)
        return moved

    def next_start(self) -> float:
        """The earliest reserved start (INF: none)."""
        heap, res = self._due, self.reserved
        while heap:
            s, k = heap[0]
            entry = res.get(k)
            if entry is not None and entry[0] == s:
                return s
            heapq.heappop(heap)
        return INF


def _extend_peaks(peak: list[int], fs: list[int], n_to: int) -> None:
    """Complete the running maxima `peak` of `fs` (its entries are valid) up
    to `n_to` entries."""
    n = len(peak)
    if n == 0:
        peak.extend(accumulate(fs[:n_to], max))
    else:
        peak.extend(accumulate(fs[n:n_to], max, initial=peak[-1]))
        del peak[n]  # the initial value, repeated
