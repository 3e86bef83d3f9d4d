"""The plots' numbers for each period, read from the store and kept for a while.

A period's jobs are read (off the event loop, store/job_periods.py) at most once per
`TTL_S[period]`, whatever the number of browsers watching: a page asks
`/ui/plots/data?period=…` every few seconds with the generation it has
(If-None-Match) and gets 304 until the numbers are computed again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from corral.model.errors import InvalidRequest
from corral.services.identity import Caller
from corral.store import job_periods
from corral.web.series import PERIODS, WAIT_BINS, Record, Series, compute

if TYPE_CHECKING:
    from corral.services.controller import Controller

TTL_S = {"hour": 10.0, "day": 30.0, "week": 120.0, "month": 300.0}
MAX_JOBS = 200_000  # jobs read for one period at most (the newest)


@dataclass(frozen=True)
class Computed:
    series: Series
    generation: int
    t_monotonic: float


class PlotCache:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self._kept: dict[str, Computed] = {}
        self._locks = {p: asyncio.Lock() for p in PERIODS}
        self._generation = 0
        self.loads = 0  # store reads so far (for tests and /metrics-like curiosity)

    async def get(self, period: str) -> Computed:
        if period not in PERIODS:
            raise InvalidRequest(f"period: {period!r} is not one of {', '.join(PERIODS)}")
        kept = self._kept.get(period)
        if kept is not None and time.monotonic() - kept.t_monotonic < TTL_S[period]:
            return kept
        async with self._locks[period]:
            kept = self._kept.get(period)
            if kept is not None and time.monotonic() - kept.t_monotonic < TTL_S[period]:
                return kept
            now = time.time()
            length_s, _ = PERIODS[period]
            rows, more = await self.ctl.writer.read(
                partial(job_periods.overlapping, t0=now - length_s, t1=now, limit=MAX_JOBS))
            self.loads += 1
            records = [Record(*row) for row in rows]
            cpus_total = sum(n.cpus for n in self.ctl.nodes.values())
            series = await asyncio.to_thread(compute, records, period=period, now=now,
                                             cpus_total=cpus_total, truncated=more)
            self._generation += 1
            kept = Computed(series, self._generation, time.monotonic())
            self._kept[period] = kept
            return kept


def plot_data(computed: Computed, caller: Caller, sees_all: bool) -> dict[str, Any]:
    """What the plots page draws, as the caller may see it: the cluster's utilization
    and queue length always (as /metrics' gauges), the wait times and usage per
    account of every job only to a caller who may list every job (else their own)."""
    s = computed.series
    tally = s.tally_for(None if sees_all else caller.uid)
    return {
        "period": s.period,
        "generation": computed.generation,
        "t": [round(t) for t in s.edges[1:]],
        "step_s": round(s.edges[1] - s.edges[0]),
        "cpus_total": s.cpus_total,
        "utilization_pct": s.utilization_pct,
        "queue_length": s.queue_length,
        "wait": {"bins": [label for _, label in WAIT_BINS], "jobs": tally.wait_counts},
        "accounts": [{"account": a, "cpu_hours": round(h, 3)} for a, h in tally.accounts()],
        "scope": "all jobs" if sees_all else f"jobs of {caller.user}",
        "jobs_counted": s.jobs_counted,
        "truncated": s.truncated,
    }
