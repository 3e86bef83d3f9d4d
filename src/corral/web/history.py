"""The plots' numbers for each period, read from the store and kept for a while.

A period's jobs are read (off the event loop, store/job_periods.py) — and for a day
or longer the accounting reports' rollups (web/from_reports.py) — at most once per
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
from corral.web import from_reports
from corral.web.series import PERIODS, WAIT_BINS, Record, Series, compute, shown

if TYPE_CHECKING:
    from corral.services.controller import Controller

TTL_S = {"hour": 10.0, "day": 30.0, "week": 120.0, "month": 300.0}
MAX_JOBS = 200_000  # jobs read for one period at most (the newest)
MAX_KEPT_SCOPES = 1000  # usage per account kept for this many (period, user) at most


@dataclass(frozen=True)
class Computed:
    series: Series
    generation: int
    t_monotonic: float
    t_now: float  # epoch seconds: the period's end
    # utilization from the reports (periods of a day or longer): bucket starts, %
    report_t: list[int] | None = None
    report_utilization_pct: list[float] | None = None


class PlotCache:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self._kept: dict[str, Computed] = {}
        self._locks = {p: asyncio.Lock() for p in PERIODS}
        self._generation = 0
        self.loads = 0  # store reads so far
        # (period, generation, uid or None for everyone) -> usage per account
        self._accounts: dict[tuple[str, int, int | None], list[tuple[str, float]]] = {}

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
            # the reports give utilization and usage per account for their periods:
            # the job records are then read for the queue length and waits only
            reports = from_reports.covers(period)
            rows, more = await self.ctl.writer.read(
                partial(job_periods.overlapping, t0=now - length_s, t1=now, limit=MAX_JOBS,
                        cpus=not reports))
            self.loads += 1
            records = [Record(*row) for row in rows]
            cpus_total = sum(n.cpus for n in self.ctl.nodes.values())
            series = await asyncio.to_thread(compute, records, period=period, now=now,
                                             cpus_total=cpus_total, truncated=more,
                                             utilization=not reports)
            report_t = report_pct = None
            if reports:
                report_t, report_pct = await from_reports.utilization(
                    self.ctl, period, now, cpus_total)
            self._generation += 1
            kept = Computed(series, self._generation, time.monotonic(), now, report_t,
                            report_pct)
            self._kept[period] = kept
            self._accounts = {k: v for k, v in self._accounts.items()
                              if k[0] != period}
            return kept

    async def data(self, period: str, caller: Caller, sees_all: bool) -> dict[str, Any]:
        computed = await self.get(period)
        accounts = None
        if from_reports.covers(period):
            key = (period, computed.generation, None if sees_all else caller.uid)
            accounts = self._accounts.get(key)
            if accounts is None:
                accounts = await from_reports.accounts(self.ctl, caller, period,
                                                       computed.t_now)
                if len(self._accounts) >= MAX_KEPT_SCOPES:
                    self._accounts.clear()
                self._accounts[key] = accounts
        return plot_data(computed, caller, sees_all, accounts)


def plot_data(computed: Computed, caller: Caller, sees_all: bool,
              accounts: list[tuple[str, float]] | None = None) -> dict[str, Any]:
    """What the plots page draws, as the caller may see it: the cluster's utilization
    and queue length always (as /metrics' gauges), the wait times and usage per
    account of every job only to a caller who may list every job (else their own).
    `accounts`: the reports' usage per account (else the job records')."""
    s = computed.series
    tally = s.tally_for(None if sees_all else caller.uid)
    t = [round(t) for t in s.edges[1:]]
    util_t, util = t, s.utilization_pct
    if computed.report_t is not None and computed.report_utilization_pct is not None:
        util_t, util = computed.report_t, computed.report_utilization_pct
    return {
        "period": s.period,
        "generation": computed.generation,
        "t": t,
        "step_s": round(s.edges[1] - s.edges[0]),
        "cpus_total": s.cpus_total,
        "utilization_t": util_t,
        "utilization_pct": util,
        "utilization_from": "reports" if util_t is not t else "job records",
        "queue_length": s.queue_length,
        "wait": {"bins": [label for _, label in WAIT_BINS], "jobs": tally.wait_counts},
        "accounts": [{"account": a, "cpu_hours": shown(h)}
                     for a, h in (tally.accounts() if accounts is None else accounts)],
        "scope": "all jobs" if sees_all else f"jobs of {caller.user}",
        "jobs_counted": s.jobs_counted,
        "truncated": s.truncated,
    }
