"""The plots that the accounting reports answer (services/reports.py, docs/accounting.md)
for periods of a day and longer: utilization from the hourly rollups and the
capacity the controller samples (so down, drained and reserved CPUs are counted as
`sreport cluster utilization` counts them), and usage per account. Their periods are
whole UTC hours, in buckets of an hour (day, week) or a day (month).

The last hour and the queue length need finer buckets than the rollups keep; the
wait times are shown per user: web/series.py computes those from the job records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from corral.services.identity import Caller
from corral.services.reports import Reports, period
from corral.web.series import NO_ACCOUNT, PERIODS, TOP_ACCOUNTS, shown

if TYPE_CHECKING:
    from corral.services.controller import Controller

REPORT_BUCKET = {"day": "hour", "week": "hour", "month": "day"}


def covers(period_name: str) -> bool:
    return period_name in REPORT_BUCKET


async def utilization(ctl: Controller, period_name: str, now: float, cpus_total: int
                      ) -> tuple[list[int], list[float]]:
    """(bucket starts, % of the CPUs allocated) over the period, every bucket."""
    length_s, _ = PERIODS[period_name]
    p = period(now - length_s, now)
    got = await Reports(ctl).utilization(p, REPORT_BUCKET[period_name])
    size = int(got["bucket_s"])
    by_t = {int(row["t"]): row for row in got["series"]}
    ts, pct = [], []
    for t in range(p.start, p.end, size):
        row: dict[str, Any] = by_t.get(t, {})
        allocated = float(row.get("allocated", 0.0))
        reported = float(row.get("reported", 0.0))
        if reported <= 0 and allocated > 0:  # no capacity sample yet: the CPUs up now
            reported = cpus_total * max(1.0, min(t + size, now) - t)
        ts.append(t)
        pct.append(shown(100.0 * allocated / reported) if reported > 0 else 0.0)
        if t >= now:
            break
    return ts, pct


async def accounts(ctl: Controller, caller: Caller, period_name: str, now: float
                   ) -> list[tuple[str, float]]:
    """(account, CPU-hours) over the period, the largest first, the rest summed; a
    caller who may not list every job gets their own usage only (as the report)."""
    length_s, _ = PERIODS[period_name]
    got = await Reports(ctl).users(caller, period(now - length_s, now), top=None,
                                   group=False, users=None, accounts=None)
    cpu_s: dict[str, float] = {}
    for r in got["users"]:
        key = r["account"] or NO_ACCOUNT
        cpu_s[key] = cpu_s.get(key, 0.0) + float(r["cpu_s"])
    ranked = sorted(((a, s) for a, s in cpu_s.items() if s > 0), key=lambda kv: (-kv[1], kv[0]))
    out = [(a, s / 3600) for a, s in ranked[:TOP_ACCOUNTS]]
    rest = sum(s for _, s in ranked[TOP_ACCOUNTS:])
    if rest > 0:
        out.append(("(others)", rest / 3600))
    return out
