"""A corral store's finished jobs as a trace (`corral sim --from-store`).

Every job that ran and ended (a start and an end time in the `jobs` table)
becomes a replayed job: submitted at its submit time, asking nodes x CPUs
per node processors and its resolved time limit (0: unlimited), running as
long as its last run did (start to end; a requeued job's earlier runs are not
replayed). Jobs that never started (cancelled while pending) are left out.
The machine is the sum of the CPUs of the store's nodes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from corral.sim.jobs import SimJob
from corral.store.db import make_engine, reading
from corral.store.schema import jobs, nodes


class StoreTraceError(ValueError):
    """The store cannot be read as a trace."""


@dataclass(slots=True)
class StoreTrace:
    jobs: list[SimJob]
    procs: int  # CPUs of every node in the store
    name: str


def read_store(
    url: str, *, since: float | None = None, until: float | None = None
) -> StoreTrace:
    """The finished jobs submitted in [since, until) of the store at `url`."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise StoreTraceError(f"store {url}: no such file")
    try:
        engine = make_engine(url)
    except (ValueError, SQLAlchemyError) as e:
        raise StoreTraceError(f"store {url}: {e}") from None
    try:
        return _read(engine, url, since, until)
    except SQLAlchemyError as e:
        msg = str(e).splitlines()[0]
        raise StoreTraceError(f"store {url}: cannot read jobs ({msg})") from None
    finally:
        engine.dispose()


def _read(engine: Engine, url: str, since: float | None, until: float | None) -> StoreTrace:
    q = select(
        jobs.c.id,
        jobs.c.user,
        jobs.c.time_limit_s,
        jobs.c.t_submit,
        jobs.c.t_start,
        jobs.c.t_end,
        jobs.c.spec,
    ).where(jobs.c.t_start.is_not(None), jobs.c.t_end.is_not(None))
    if since is not None:
        q = q.where(jobs.c.t_submit >= since)
    if until is not None:
        q = q.where(jobs.c.t_submit < until)
    out: list[SimJob] = []
    with reading(engine) as conn:
        procs = int(conn.execute(select(func.coalesce(func.sum(nodes.c.cpus), 0))).scalar_one())
        for row in conn.execute(q.order_by(jobs.c.t_submit, jobs.c.id)):
            spec = json.loads(row.spec)
            n_procs = int(spec.get("nodes") or 1) * int(spec.get("cpus_per_node") or 1)
            run_s = max(float(row.t_end) - float(row.t_start), 0.0)
            limit_s = float(row.time_limit_s) if row.time_limit_s else math.inf
            out.append(
                SimJob(
                    int(row.id),
                    float(row.t_submit),
                    min(run_s, limit_s),
                    limit_s,
                    n_procs,
                    str(row.user),
                    valid=run_s > 0,
                )
            )
    return StoreTrace(out, procs, f"store {url}")
