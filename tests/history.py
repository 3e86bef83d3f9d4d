"""A history of finished jobs from a real trace, put straight into a store through
the controller's own record path (services/accounting.load_finished), and the
usage recomputed from the stored job rows alone, to check the reports against.

Used by tests/compat/test_sreport.py and bench/reports.py."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, select

from corral.model.job import Job, JobSpec
from corral.model.states import JobState
from corral.services.accounting import add_capacity_span, load_finished
from corral.sim.swf import read_swf
from corral.store.schema import jobs as jobs_table

TRACES = Path(__file__).resolve().parents[1] / ".." / "shared" / "traces"
RICC = TRACES / "RICC-2010-2.swf.gz"
RICC_CPUS = 8192
ACCOUNTS = ("physics", "chemistry", "biology", "climate", "astro")
BATCH = 20_000


def trace_jobs(path: Path, limit: int, *, copies: int = 1) -> Iterator[Job]:
    """Finished jobs from an SWF trace (at its own dates; `copies` > 1 repeats the
    trace after itself, shifted by its span, for a larger history). Each user
    charges one of ACCOUNTS (by user id) and every job the partition `main`."""
    trace = read_swf(path, limit_jobs=limit)
    t0 = float(trace.header_int("UnixStartTime") or 0)
    recs = [r for r in trace.records if r.procs_alloc > 0 and r.run_s >= 0 and r.wait_s >= 0]
    span = max(r.t_submit + r.wait_s + r.run_s for r in recs) + 3600
    n = 0
    for copy in range(copies):
        base = t0 + copy * span
        for r in recs:
            if n >= limit:
                return
            n += 1
            uid = 200_000 + int(r.user) if r.user.isdigit() else 200_000
            submit = base + r.t_submit
            start = submit + r.wait_s
            limit_s = int(r.limit_s) if r.limit_s > 0 else 0
            spec = JobSpec(name=f"swf{r.job_id}", working_dir="/tmp", argv=("true",),
                           cpus_per_node=r.procs_alloc, partition="main",
                           account=ACCOUNTS[uid % len(ACCOUNTS)], time_limit_s=limit_s)
            yield Job(id=0, spec=spec, user=f"u{r.user}", uid=uid, gid=uid,
                      state=JobState.COMPLETED, t_submit=submit, partition="main",
                      time_limit_s=limit_s, mem_mb_per_node=None, t_start=start,
                      t_end=start + r.run_s, nodes=("node1",), exit_code=0)


def load_history(engine: Engine, jobs: Iterator[Job], cpus: int = RICC_CPUS) -> int:
    """Store the jobs and their records in batches, and the machine's capacity over
    their span; -> how many."""
    n, t0, t1 = 0, float("inf"), 0.0
    batch: list[Job] = []

    def flush() -> None:
        with engine.begin() as conn:
            load_finished(conn, batch, {})
        batch.clear()
    for job in jobs:
        batch.append(job)
        t0 = min(t0, job.t_submit)
        t1 = max(t1, job.t_end or 0.0)
        n += 1
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()
    with engine.begin() as conn:
        add_capacity_span(conn, t0, t1, cpus)
    return n


def recompute(engine: Engine, start: float, end: float
              ) -> tuple[float, dict[tuple[str, str], float]]:
    """From the job rows alone: allocated CPU-seconds within [start, end), in all and
    per (user, account)."""
    import json
    total = 0.0
    per: dict[tuple[str, str], float] = defaultdict(float)
    c = jobs_table.c
    q = select(c.user, c.account, c.spec, c.t_start, c.t_end).where(
        c.t_start < end, c.t_end > start)
    with engine.connect() as conn:
        for user, account, spec, t_start, t_end in conn.execute(q):
            d = json.loads(spec)
            secs = min(t_end, end) - max(t_start, start)
            if secs > 0:
                cpu_s = d["cpus_per_node"] * d["nodes"] * secs
                total += cpu_s
                per[(user, account or "")] += cpu_s
    return total, dict(per)
