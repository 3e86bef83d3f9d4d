"""Usage records, their hourly rollups and the cluster's capacity: writes and the
report queries (docs/accounting.md). Every query reads the rollups, whose size
grows with hours x users, not with jobs; and is bounded by whole hours.

Every function works in the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from corral.model.usage_record import (
    JOB_STEP,
    DistKey,
    DistSums,
    HourKey,
    HourSums,
    UsageRecord,
    rollup,
)
from corral.store.dialect import upsert_add
from corral.store.jobs import MAX_SPAN_KEY
from corral.store.meta import get_meta, set_meta
from corral.store.schema import (
    cluster_hourly,
    jobs,
    usage_hourly,
    usage_jobs_hourly,
    usage_records,
)

_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(UsageRecord))
CHUNK_ROWS = 5000  # rows per executemany


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK_ROWS):
        yield rows[i:i + CHUNK_ROWS]


def write_records(conn: Connection, records: Sequence[UsageRecord], *,
                  fresh: bool = False) -> None:
    """Store the records (a job's earlier record, from a run before a requeue, is
    replaced) and add them to the rollups. `fresh`: the jobs have no record yet
    (a bulk load), so nothing is looked for to replace."""
    if not records:
        return
    if not fresh:
        ids = sorted({r.job_id for r in records})
        for i in range(0, len(ids), CHUNK_ROWS):
            conn.execute(delete(usage_records).where(
                usage_records.c.job_id.in_(ids[i:i + CHUNK_ROWS])))
    rows = [{f: getattr(r, f) for f in _RECORD_FIELDS} for r in records]
    for part in _chunks(rows):
        conn.execute(insert(usage_records), part)
    note_spans(conn, max(r.t_end - r.t_submit for r in records if r.step_id == JOB_STEP)
               if any(r.step_id == JOB_STEP for r in records) else 0.0)
    hours: dict[HourKey, HourSums] = {}
    dist: dict[DistKey, DistSums] = {}
    rollup(records, hours, dist)
    add_rollups(conn, hours, dist)


def note_spans(conn: Connection, span_s: float) -> None:
    """Keep meta `max_job_span_s`, the longest submit-to-end of any job, up."""
    old = get_meta(conn, MAX_SPAN_KEY)
    if old is None or float(old) < span_s:
        set_meta(conn, MAX_SPAN_KEY, repr(float(span_s)))


def add_runs(conn: Connection, runs: Sequence[UsageRecord]) -> None:
    """Add runs to the rollups only (a requeued job's earlier runs: its record is its
    last run's)."""
    hours: dict[HourKey, HourSums] = {}
    dist: dict[DistKey, DistSums] = {}
    rollup(runs, hours, dist)
    add_rollups(conn, hours, dist)


def add_rollups(conn: Connection, hours: dict[HourKey, HourSums],
                dist: dict[DistKey, DistSums]) -> None:
    hour_rows = [{"hour": k[0], "user": k[1], "account": k[2], "partition": k[3],
                  "cpu_s_alloc": s[0], "cpu_s_used": s[1], "gpu_s": s[2], "charge": s[3],
                  "energy_j": s[4], "jobs": int(s[5] or 0)} for k, s in hours.items()]
    for part in _chunks(hour_rows):
        upsert_add(conn, usage_hourly, part, ("hour", "user", "account", "partition"))
    dist_rows = [{"hour": k[0], "account": k[1], "partition": k[2], "size": k[3],
                  "wait_s": k[4], "jobs": int(s[0]), "cpu_s_alloc": s[1],
                  "wait_s_sum": s[2]} for k, s in dist.items()]
    for part in _chunks(dist_rows):
        upsert_add(conn, usage_jobs_hourly, part,
                   ("hour", "account", "partition", "size", "wait_s"))


Capacity = tuple[float, float, float, float]  # CPU-s total, down, reserved, planned down


def add_capacity(conn: Connection, hours: dict[int, Capacity]) -> None:
    """Add CPU-seconds (total, down, reserved, planned down) to these hours."""
    upsert_add(conn, cluster_hourly, [
        {"hour": h, "cpu_s_total": t, "cpu_s_down": d, "cpu_s_reserved": r,
         "cpu_s_planned_down": p} for h, (t, d, r, p) in sorted(hours.items())], ("hour",))


# ---- reading ---------------------------------------------------------------------------
def job_records(conn: Connection, job_id: int) -> list[dict[str, Any]]:
    """A job's record, then its steps' (step order)."""
    rows = conn.execute(select(usage_records).where(usage_records.c.job_id == job_id)
                        .order_by(usage_records.c.step_id))
    return [dict(r._mapping) for r in rows]


def usage_per_hour(conn: Connection, start: int, end: int,
                   users: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
    """(hour, cpu_s_alloc, gpu_s, charge, jobs) for each hour in [start, end) with any."""
    h = usage_hourly.c
    q = (select(h.hour, func.sum(h.cpu_s_alloc), func.sum(h.gpu_s), func.sum(h.charge),
                func.sum(h.jobs))
         .where(h.hour >= start, h.hour < end).group_by(h.hour).order_by(h.hour))
    if users is not None:
        q = q.where(h.user.in_(list(users)))
    return [tuple(r) for r in conn.execute(q)]


def capacity_per_hour(conn: Connection, start: int, end: int) -> list[tuple[Any, ...]]:
    """(hour, cpu_s_total, cpu_s_down, cpu_s_reserved, cpu_s_planned_down) for the
    sampled hours."""
    c = cluster_hourly.c
    return [tuple(r) for r in conn.execute(
        select(c.hour, c.cpu_s_total, c.cpu_s_down, c.cpu_s_reserved, c.cpu_s_planned_down)
        .where(c.hour >= start, c.hour < end).order_by(c.hour))]


def usage_by_user(conn: Connection, start: int, end: int, *,
                  users: Sequence[str] | None = None,
                  accounts: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
    """(user, account, cpu_s_alloc, cpu_s_used, gpu_s, charge, energy_j, jobs) over
    [start, end), one row per user and account."""
    h = usage_hourly.c
    q = (select(h.user, h.account, func.sum(h.cpu_s_alloc), func.sum(h.cpu_s_used),
                func.sum(h.gpu_s), func.sum(h.charge), func.sum(h.energy_j),
                func.sum(h.jobs))
         .where(h.hour >= start, h.hour < end).group_by(h.user, h.account))
    if users is not None:
        q = q.where(h.user.in_(list(users)))
    if accounts is not None:
        q = q.where(h.account.in_(list(accounts)))
    return [tuple(r) for r in conn.execute(q)]


def jobs_by(conn: Connection, start: int, end: int, by: str, *,
            accounts: Sequence[str] | None = None,
            partitions: Sequence[str] | None = None) -> list[tuple[Any, ...]]:
    """(bucket, jobs, cpu_s_alloc, wait_s_sum) of the jobs that ended in [start, end),
    by `size` or `wait_s` bucket."""
    d = usage_jobs_hourly.c
    col = d.size if by == "size" else d.wait_s
    q = (select(col, func.sum(d.jobs), func.sum(d.cpu_s_alloc), func.sum(d.wait_s_sum))
         .where(d.hour >= start, d.hour < end).group_by(col).order_by(col))
    if accounts is not None:
        q = q.where(d.account.in_(list(accounts)))
    if partitions is not None:
        q = q.where(d.partition.in_(list(partitions)))
    return [tuple(r) for r in conn.execute(q)]


def first_record_end(conn: Connection) -> float | None:
    """When the first recorded job ended (None: no record yet)."""
    v = conn.execute(select(func.min(usage_records.c.t_end))).scalar()
    return None if v is None else float(v)


def cpu_s_per_hour(conn: Connection, since_hour: int) -> list[tuple[Any, ...]]:
    """(hour, user, account, cpu_s_alloc) from since_hour on (fair-share's history)."""
    h = usage_hourly.c
    return [tuple(r) for r in conn.execute(
        select(h.hour, h.user, h.account, h.cpu_s_alloc)
        .where(h.hour >= since_hour, h.cpu_s_alloc > 0))]


def ended_before_records(conn: Connection, t0: float, t1: float) -> list[tuple[Any, ...]]:
    """(account, user, cpu_s_alloc, t_end) of the jobs that ran and ended in [t0, t1),
    read from their rows: those that ended before usage records were kept."""
    import json
    c = jobs.c
    out = []
    for account, user, spec, t_start, t_end in conn.execute(
            select(c.account, c.user, c.spec, c.t_start, c.t_end)
            .where(c.t_end >= t0, c.t_end < t1, c.t_start.is_not(None))):
        d = json.loads(spec)
        cpus = int(d.get("cpus_per_node", 1)) * int(d.get("nodes", 1))
        out.append((account, user, cpus * max(0.0, t_end - t_start), float(t_end)))
    return out


def site_runs_since(conn: Connection, since: float) -> list[tuple[Any, ...]]:
    """(sites, account, user, cpu_s_alloc, t_end) of the jobs (their own records, not
    steps') that ended since `since` on nodes of a site, for the sites' fair-share."""
    c = usage_records.c
    return [tuple(r) for r in conn.execute(
        select(c.sites, c.account, c.user, c.cpu_s_alloc, c.t_end)
        .where(c.step_id == JOB_STEP, c.t_end >= since, c.sites != "")
        .order_by(c.t_end))]
