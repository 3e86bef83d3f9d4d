"""Generic resources of a node (`nvme`, `fpga:xilinx`, …): counts by name that jobs
hold per node, beside CPUs, memory and GPUs (docs/resources.md, generic resources).

A node's ledger keeps what is free now, the planned releases of the running jobs
and the reservations booked this cycle, as the node machine does for CPUs; the
start times at which a job's generic resources fit are found per name and
intersected with those of its CPUs, memory and GPUs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

INF = math.inf
Gres = tuple[tuple[str, int], ...]  # (name, count) sorted by name
Intervals = list[tuple[float, float]]


class GresLedger:
    __slots__ = ("cap", "free", "rel", "res")

    def __init__(self, cap: Gres, free: Gres) -> None:
        self.cap = dict(cap)
        self.free = dict(free)
        self.rel: list[tuple[float, Gres]] = []  # planned releases
        self.res: list[tuple[float, float, Gres]] = []  # reservations

    def has(self, need: Gres) -> bool:
        """Whether the node has that much of each when idle."""
        return all(self.cap.get(name, 0) >= count for name, count in need)

    def held_now(self) -> Gres:
        """What the running jobs hold (the node's whole less what is free)."""
        return tuple((k, v - self.free.get(k, 0)) for k, v in sorted(self.cap.items()))

    def free_at(self, name: str, t: float) -> int:
        f = self.free.get(name, 0)
        for tr, g in self.rel:
            if tr <= t:
                f += _count(g, name)
        for t0, t1, g in self.res:
            if t0 <= t < t1:
                f -= _count(g, name)
        return f

    def fits(self, need: Gres, t0: float, t1: float, now: float) -> bool:
        points = [t0] if t0 > now else [now]
        points += [r[0] for r in self.res if t0 < r[0] < t1]
        return all(self.free_at(name, t) >= count for t in points for name, count in need)

    def take(self, need: Gres, t_end: float) -> None:
        for name, count in need:
            self.free[name] = self.free.get(name, 0) - count
        if t_end < INF:
            self.rel.append((t_end, need))

    def book(self, need: Gres, t0: float, t1: float) -> None:
        self.res.append((t0, t1, need))

    def feasible_starts(self, need: Gres, d: float, t_from: float) -> Intervals:
        """Closed intervals of start times t >= t_from at which `need` is free
        over [t, t + d)."""
        out: Intervals = [(t_from, INF)]
        for name, count in need:
            out = intersect(out, self._feasible_one(name, count, d, t_from))
            if not out:
                break
        return out

    def _feasible_one(self, name: str, need: int, d: float, t_from: float) -> Intervals:
        deltas = [(t, _count(g, name)) for t, g in self.rel if t > t_from]
        for t0, t1, g in self.res:
            if t0 > t_from:
                deltas.append((t0, -_count(g, name)))
            if t_from < t1 < INF:
                deltas.append((t1, _count(g, name)))
        deltas.sort()
        free = self.free_at(name, t_from)
        out: Intervals = []
        start: float | None = t_from if free >= need else None
        i, n = 0, len(deltas)
        while i < n:
            t = deltas[i][0]
            while i < n and deltas[i][0] == t:
                free += deltas[i][1]
                i += 1
            if free >= need and start is None:
                start = t
            elif free < need and start is not None:
                if t - d >= start:
                    out.append((start, t - d))
                start = None
        if start is not None:
            out.append((start, INF))
        return out


def _count(g: Gres, name: str) -> int:
    for k, v in g:
        if k == name:
            return v
    return 0


def intersect(a: Intervals, b: Intervals) -> Intervals:
    """The start times in both lists of closed intervals (each sorted, disjoint)."""
    out: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def whole(cap: Mapping[str, int]) -> Gres:
    return tuple(sorted(cap.items()))
