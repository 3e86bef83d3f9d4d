"""Reports over a period (docs/accounting.md): cluster utilization, usage per user
and account, job sizes and waits, and one job's usage record.

They read the store's hourly rollups (store/usage.py) on a reading connection off
the event loop, so a report over years of history costs the scheduler nothing but
a thread; the jobs still running add their part so far from memory. Periods are
whole UTC hours: the start is rounded down, the end up.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corral.model.assoc import ROOT
from corral.model.errors import InvalidRequest, NotFound
from corral.model.states import JobState
from corral.model.usage_record import (
    HOUR_S,
    size_bucket_top,
    split_hours,
    wait_bucket_top,
)
from corral.services.accounting import live_usage
from corral.services.identity import Caller
from corral.store import usage as store_usage

if TYPE_CHECKING:
    from corral.services.controller import Controller

BUCKETS_S = {"hour": HOUR_S, "day": 86400, "week": 7 * 86400, "all": 0}
MAX_BUCKETS = 10_000
MAX_SPAN_S = 50 * 366 * 86400
T_MAX = 4102444800  # 2100-01-01


@dataclass(frozen=True, slots=True)
class Period:
    start: int  # whole hours, epoch seconds
    end: int

    @property
    def seconds(self) -> int:
        return self.end - self.start


def period(start: float | None, end: float | None, now: float | None = None) -> Period:
    """[start, end) in whole hours. Defaults: yesterday (UTC), as sreport's."""
    now = time.time() if now is None else now
    for name, v in (("start", start), ("end", end)):
        if (v is not None and not (0 <= v <= T_MAX)) or (v is not None and math.isnan(v)):
            raise InvalidRequest(f"{name}: {v!r} is not a time between 1970 and 2100 "
                                 f"(epoch seconds)")
    if start is not None and end is not None and end <= start:
        raise InvalidRequest(f"end: {end!r} is not after start {start!r}")
    today = int(now // 86400) * 86400
    e = today if end is None else math.ceil(end / HOUR_S) * HOUR_S
    s = (e - 86400 if end is not None else today - 86400) if start is None \
        else int(start // HOUR_S) * HOUR_S
    if e <= s:
        raise InvalidRequest(f"end: {end!r} is not after start {start!r}")
    if e - s > MAX_SPAN_S:
        raise InvalidRequest(f"end: the period of {(e - s) // 86400} days is over the "
                             f"maximum of {MAX_SPAN_S // 86400}")
    return Period(s, e)


def _f(v: Any) -> float:
    return float(v or 0.0)


class Reports:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl

    def _own(self, caller: Caller) -> list[str] | None:
        """The users whose rows the caller may see: all (None), or their own."""
        return None if self.ctl.access.sees_all(caller) else [caller.user]

    def _running(self, p: Period) -> list[tuple[Any, int, float, float]]:
        jobs = [self.ctl.jobs[i] for i in self.ctl.jobs.ids_in(
            *(s for s in JobState if s.is_active))]
        return list(live_usage(jobs, self.ctl.nodes, p.start, p.end))

    async def utilization(self, p: Period, bucket: str) -> dict[str, Any]:
        if bucket not in BUCKETS_S:
            raise InvalidRequest(f"bucket: {bucket!r} is not one of {', '.join(BUCKETS_S)}")
        size = BUCKETS_S[bucket] or p.seconds
        if p.seconds / size > MAX_BUCKETS:
            raise InvalidRequest(f"bucket: {bucket} makes {p.seconds // size} buckets over "
                                 f"the period, over the maximum of {MAX_BUCKETS}")
        usage, cap = await self.ctl.writer.read(lambda c: (
            store_usage.usage_per_hour(c, p.start, p.end),
            store_usage.capacity_per_hour(c, p.start, p.end)))
        zero = {"allocated": 0.0, "down": 0.0, "planned_down": 0.0, "reserved": 0.0,
                "idle": 0.0, "reported": 0.0, "gpu_s": 0.0, "charge": 0.0, "jobs": 0}
        series: dict[int, dict[str, Any]] = defaultdict(lambda: dict(zero))

        def at(h: int) -> dict[str, Any]:
            return series[p.start + (h - p.start) // size * size]
        for h, cpu_s, gpu_s, charge, jobs in usage:
            b = at(int(h))
            b["allocated"] += _f(cpu_s)
            b["gpu_s"] += _f(gpu_s)
            b["charge"] += _f(charge)
            b["jobs"] += int(jobs or 0)
        for h, total, down, reserved, planned in cap:
            b = at(int(h))
            b["reported"] += _f(total)
            b["down"] += _f(down)
            b["reserved"] += _f(reserved)
            b["planned_down"] += _f(planned)
        for job, cpus, t0, t1 in self._running(p):
            w = self.ctl.accounting.weights_of(job.partition)
            for h, secs in split_hours(t0, t1):
                b = at(h)
                b["allocated"] += cpus * secs
                b["gpu_s"] += job.spec.gpus_per_node * len(job.nodes) * secs
                b["charge"] += secs * w.billing(
                    cpus=cpus, mem_mb=(job.mem_mb_per_node or 0) * len(job.nodes),
                    gpus=job.spec.gpus_per_node * len(job.nodes), nodes=len(job.nodes))
        rows = []
        totals = dict(zero)
        for t in sorted(series):
            b = series[t]
            b["idle"] = max(0.0, b["reported"] - b["allocated"] - b["down"]
                            - b["planned_down"] - b["reserved"])
            rows.append({"t": t, **b})
            for k in zero:
                totals[k] += b[k]
        return {"start": p.start, "end": p.end, "bucket_s": size, "unit": "cpu_s",
                "totals": totals, "series": rows}

    async def users(self, caller: Caller, p: Period, *, top: int | None, group: bool,
                    users: list[str] | None, accounts: list[str] | None) -> dict[str, Any]:
        own = self._own(caller)
        if own is not None:
            users = [u for u in (users or own) if u in own]
        rows = await self.ctl.writer.read(lambda c: store_usage.usage_by_user(
            c, p.start, p.end, users=users, accounts=accounts))
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for user, account, alloc, used, gpu_s, charge, energy, jobs in rows:
            key = (user, "" if group else account)
            r = out.setdefault(key, {"user": user, "account": key[1], "cpu_s": 0.0,
                                     "cpu_s_used": None, "gpu_s": 0.0, "charge": 0.0,
                                     "energy_j": None, "jobs": 0, "accounts": []})
            r["cpu_s"] += _f(alloc)
            if used is not None:
                r["cpu_s_used"] = _f(r["cpu_s_used"]) + float(used)
            if energy is not None:
                r["energy_j"] = _f(r["energy_j"]) + float(energy)
            r["gpu_s"] += _f(gpu_s)
            r["charge"] += _f(charge)
            r["jobs"] += int(jobs or 0)
            r["accounts"].append(account)
        for job, cpus, t0, t1 in self._running(p):
            account = job.spec.account or ""
            if (users is not None and job.user not in users) or \
                    (accounts is not None and account not in accounts):
                continue
            key = (job.user, "" if group else account)
            r = out.setdefault(key, {"user": job.user, "account": key[1], "cpu_s": 0.0,
                                     "cpu_s_used": None, "gpu_s": 0.0, "charge": 0.0,
                                     "energy_j": None, "jobs": 0, "accounts": [account]})
            r["cpu_s"] += cpus * (t1 - t0)
        listed = sorted(out.values(), key=lambda r: (-r["cpu_s"], r["user"], r["account"]))
        for r in listed:
            r["accounts"] = sorted(set(r["accounts"]))
        if top is not None:
            listed = listed[:top]
        return {"start": p.start, "end": p.end, "unit": "cpu_s", "users": listed}

    async def accounts(self, caller: Caller, p: Period) -> dict[str, Any]:
        """Usage by account (its sub-accounts' included) and, under each, by user, in
        the account tree's order (accounts not in the tree: under root)."""
        got = await self.users(caller, p, top=None, group=False, users=None, accounts=None)
        parent: dict[str, str | None] = {
            a.name: a.parent for a in self.ctl.assoc.tree.accounts.values()}
        root = ROOT
        parent.setdefault(root, None)
        for r in got["users"]:
            if not r["account"]:  # jobs that named no account: root's
                r["account"] = root
            if r["account"] not in parent:
                parent[r["account"]] = root
        children: dict[str | None, list[str]] = defaultdict(list)
        for name, par in parent.items():
            if name != root:
                children[par if par in parent else root].append(name)
        by_acct: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in got["users"]:
            by_acct[r["account"]].append(r)
        rows: list[dict[str, Any]] = []

        def visit(name: str, depth: int) -> dict[str, Any]:
            row: dict[str, Any] = {"account": name, "user": "", "depth": depth,
                                   "parent": parent.get(name), "cpu_s": 0.0, "gpu_s": 0.0,
                                   "charge": 0.0, "energy_j": None, "jobs": 0}
            rows.append(row)
            subtotal = [row]
            users = sorted(by_acct.get(name, []), key=lambda r: (-r["cpu_s"], r["user"]))
            for u in users:
                rows.append({"account": name, "user": u["user"], "depth": depth + 1,
                             "parent": name, **{k: u[k] for k in
                                                ("cpu_s", "gpu_s", "charge", "energy_j",
                                                 "jobs")}})
            for child in sorted(children.get(name, [])):
                subtotal.append(visit(child, depth + 1))
            for k in ("cpu_s", "gpu_s", "charge", "jobs"):
                row[k] = sum(u[k] for u in users) + sum(s[k] for s in subtotal[1:])
            energies = [u["energy_j"] for u in users] + [s["energy_j"] for s in subtotal[1:]]
            known = [e for e in energies if e is not None]
            row["energy_j"] = sum(known) if known else None
            return row
        visit(root, 0)
        return {"start": p.start, "end": p.end, "unit": "cpu_s", "rows": rows}

    async def jobs(self, p: Period, by: str, *, accounts: list[str] | None,
                   partitions: list[str] | None) -> dict[str, Any]:
        if by not in ("size", "wait"):
            raise InvalidRequest(f"by: {by!r} is not size or wait")
        rows = await self.ctl.writer.read(lambda c: store_usage.jobs_by(
            c, p.start, p.end, "size" if by == "size" else "wait_s",
            accounts=accounts, partitions=partitions))
        buckets = []
        for edge, jobs, cpu_s, wait_sum in rows:
            lo = int(edge)
            hi = size_bucket_top(lo) if by == "size" else wait_bucket_top(lo)
            buckets.append({"lo": lo, "hi": hi, "jobs": int(jobs or 0), "cpu_s": _f(cpu_s),
                            "wait_s_mean": _f(wait_sum) / int(jobs) if jobs else 0.0})
        return {"start": p.start, "end": p.end, "by": by,
                "unit": "cpus" if by == "size" else "s", "buckets": buckets}

    async def job(self, caller: Caller, job_id: int) -> dict[str, Any]:
        job = await self.ctl.read_job(caller, job_id)
        records = await self.ctl.writer.read(lambda c: store_usage.job_records(c, job.id))
        if not records:
            raise NotFound(f"job {job_id}: no usage record (it has not ended)")
        return {"job": records[0], "steps": records[1:]}
