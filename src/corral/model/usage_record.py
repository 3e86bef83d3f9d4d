"""A finished job's (or step's) usage record, and the hourly rollups it adds to.

A record is written once per job end (docs/accounting.md): CPU-seconds allocated
(CPUs x elapsed) and used (what the agents measured), GPU-seconds, the largest
resident memory, energy when known (None: unknown, never 0), the wait in the
queue, and the charge (billing units x elapsed, model/billing.py).

The rollups are what the reports read: the usage of every record spread over the
clock hours it ran in (per hour x user x account x partition), and each started
job counted once, in the hour it ended, by size and wait (per hour x account x
partition x size bucket x wait bucket). Both are sums, so records add to them in
any order and a report over whole hours is exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import cast

HOUR_S = 3600
JOB_STEP = -1  # the step id of a job's own record (its whole allocation)

# wait buckets: lower edges in seconds (the last one is open)
WAIT_EDGES_S = (0, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    job_id: int
    step_id: int  # JOB_STEP for the job itself
    user: str
    account: str  # "" when the job named none
    partition: str
    state: str
    t_submit: float
    t_start: float | None  # None: never ran
    t_end: float
    nodes: int
    cpus: int  # allocated
    gpus: int
    mem_mb: float  # allocated, all nodes together
    cpu_s_alloc: float
    cpu_s_used: float | None  # None: not measured
    gpu_s: float
    max_rss_mb: float | None
    energy_j: float | None  # None: not known
    wait_s: float | None  # None: never ran
    billing: float  # units per second
    charge: float  # billing x elapsed seconds
    exit_code: int | None
    sites: str = ""  # each node's site in node order, comma-separated ("" for none)

    @property
    def elapsed_s(self) -> float:
        return 0.0 if self.t_start is None else max(0.0, self.t_end - self.t_start)


def make_record(*, job_id: int, step_id: int = JOB_STEP, user: str, account: str | None,
                partition: str, state: str, t_submit: float, t_start: float | None,
                t_end: float, nodes: int, cpus: int, gpus: int, mem_mb: float,
                cpu_s_used: float | None, max_rss_mb: float | None,
                energy_j: float | None, billing: float,
                exit_code: int | None, sites: str = "") -> UsageRecord:
    elapsed = 0.0 if t_start is None else max(0.0, t_end - t_start)
    return UsageRecord(
        job_id=job_id, step_id=step_id, user=user, account=account or "",
        partition=partition, state=state, t_submit=t_submit, t_start=t_start,
        t_end=t_end, nodes=nodes, cpus=cpus, gpus=gpus, mem_mb=mem_mb,
        cpu_s_alloc=cpus * elapsed, cpu_s_used=cpu_s_used, gpu_s=gpus * elapsed,
        max_rss_mb=max_rss_mb, energy_j=energy_j,
        wait_s=None if t_start is None else max(0.0, t_start - t_submit),
        billing=billing, charge=billing * elapsed, exit_code=exit_code, sites=sites)


def hour_of(t: float) -> int:
    return int(t // HOUR_S) * HOUR_S


def split_hours(t0: float, t1: float) -> Iterator[tuple[int, float]]:
    """(hour start, seconds of [t0, t1) in that hour), in order."""
    h = hour_of(t0)
    while h < t1:
        lo, hi = max(t0, h), min(t1, h + HOUR_S)
        if hi > lo:
            yield h, hi - lo
        h += HOUR_S


def size_bucket(cpus: int) -> int:
    """The lower edge of a job's size bucket: 1, 2, 3 (3-4), 5 (5-8), 9 (9-16)…"""
    if cpus <= 2:
        return max(cpus, 1)
    top = 1 << (cpus - 1).bit_length()  # the power of two at or above
    return top // 2 + 1


def size_bucket_top(lo: int) -> int:
    return lo if lo <= 2 else 2 * (lo - 1)


def wait_bucket(wait_s: float) -> int:
    edge = 0
    for e in WAIT_EDGES_S:
        if wait_s >= e:
            edge = e
    return edge


def wait_bucket_top(lo: int) -> int | None:
    later = [e for e in WAIT_EDGES_S if e > lo]
    return later[0] if later else None


HourKey = tuple[int, str, str, str]  # hour, user, account, partition
# cpu_s_alloc, cpu_s_used, gpu_s, charge, energy_j (None: not known), jobs ended
HourSums = list[float | None]
DistKey = tuple[int, str, str, int, int]  # hour, account, partition, size, wait
DistSums = list[float]  # jobs, cpu_s_alloc, wait_s


def _new_hour() -> HourSums:
    return [0.0, None, 0.0, 0.0, None, 0.0]


def rollup(records: Iterable[UsageRecord], hours: dict[HourKey, HourSums],
           dist: dict[DistKey, DistSums]) -> None:
    """Add the records' job rows (steps are inside their job's allocation) to the
    hourly sums, in place. Each hour gets CPUs x its seconds (exact when the times
    are whole seconds); measured CPU time and energy are spread in proportion."""
    for r in records:
        if r.step_id != JOB_STEP or r.t_start is None:
            continue
        elapsed = r.t_end - r.t_start
        who = (r.user, r.account, r.partition)
        used, energy = r.cpu_s_used, r.energy_j
        h = hour_of(r.t_start)
        while h < r.t_end:
            secs = min(r.t_end, h + HOUR_S) - max(r.t_start, h)
            if secs > 0:
                key = (h, *who)
                sums = hours.get(key)
                if sums is None:
                    sums = hours[key] = _new_hour()
                sums[0] = cast(float, sums[0]) + r.cpus * secs
                sums[2] = cast(float, sums[2]) + r.gpus * secs
                sums[3] = cast(float, sums[3]) + r.billing * secs
                if used is not None:
                    sums[1] = (sums[1] or 0.0) + used * secs / elapsed
                if energy is not None:
                    sums[4] = (sums[4] or 0.0) + energy * secs / elapsed
            h += HOUR_S
        end_key = (hour_of(r.t_end), *who)
        sums = hours.get(end_key)
        if sums is None:
            sums = hours[end_key] = _new_hour()
        sums[5] = cast(float, sums[5]) + 1.0
        if elapsed <= 0:  # measured without time to spread it over: the end hour's
            if used is not None:
                sums[1] = (sums[1] or 0.0) + used
            if energy is not None:
                sums[4] = (sums[4] or 0.0) + energy
        dkey = (end_key[0], r.account, r.partition, size_bucket(r.cpus),
                wait_bucket(r.wait_s or 0.0))
        d = dist.get(dkey)
        if d is None:
            d = dist[dkey] = [0.0, 0.0, 0.0]
        d[0] += 1
        d[1] += r.cpu_s_alloc
        d[2] += r.wait_s or 0.0
