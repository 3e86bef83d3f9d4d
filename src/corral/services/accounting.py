"""Usage accounting: a usage record for every job (and srun step) as it ends, and
the cluster's capacity sampled as the controller runs (docs/accounting.md).

The records are written in the same store transaction as the job's final state,
so the reports (services/reports.py) never miss an ended job nor count one twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral.config import Config
from corral.model.billing import CPU_ONLY, BillingWeights, parse_billing
from corral.model.job import Job
from corral.model.node import Node
from corral.model.usage_record import HOUR_S, UsageRecord, hour_of, make_record, split_hours
from corral.store import deferred
from corral.store import jobs as store_jobs
from corral.store import usage as store_usage

if TYPE_CHECKING:
    from corral.services.controller import Controller
    from corral.services.site_usage import SiteUsage
    from corral.services.steps import Step
    from corral.services.usage import Usage

log = logging.getLogger("corral.accounting")


def billing_weights(cfg: Config) -> dict[str, BillingWeights]:
    return {p.name: parse_billing(f"partitions.{p.name}.billing", p.billing)
            for p in cfg.partitions}


def job_record(job: Job, weights: BillingWeights, *, alloc_cpus: int | None = None,
               t_end: float | None = None, job_id: int | None = None,
               sites: str = "") -> UsageRecord:
    """The record of a job that ended (its last run). `alloc_cpus`: what it held,
    when not what it asked for (whole nodes); `sites`: its nodes' sites."""
    spec = job.spec
    nodes = len(job.nodes) or spec.nodes
    cpus = alloc_cpus if alloc_cpus is not None else job.cpus
    gpus = spec.gpus_per_node * nodes
    mem_mb = float((job.mem_mb_per_node or 0) * nodes)
    end = job.t_end if job.t_end is not None else (t_end or time.time())
    return make_record(
        job_id=job.id if job_id is None else job_id, user=job.user, account=spec.account,
        partition=job.partition,
        state=str(job.state), t_submit=job.t_submit, t_start=job.t_start, t_end=end,
        nodes=nodes, cpus=cpus, gpus=gpus, mem_mb=mem_mb, cpu_s_used=job.cpu_time_s,
        max_rss_mb=job.max_rss_mb, energy_j=job.energy_j,
        billing=weights.billing(cpus=cpus, mem_mb=mem_mb, gpus=gpus, nodes=nodes),
        exit_code=job.exit_code, sites=sites)


def step_record(job: Job, step: Step, weights: BillingWeights, t_end: float) -> UsageRecord:
    cpus = step.layout.ntasks * step.cpus_per_task
    nodes = len(step.layout.nodes)
    gpus = job.spec.gpus_per_node * nodes
    end = step.t_end if step.t_end is not None else t_end
    state = "CANCELLED" if step.state == "RUNNING" else step.state
    return make_record(
        job_id=job.id, step_id=step.step_id, user=job.user, account=job.spec.account,
        partition=job.partition, state=state, t_submit=step.t_start,
        t_start=step.t_start, t_end=max(end, step.t_start), nodes=nodes, cpus=cpus,
        gpus=gpus, mem_mb=0.0, cpu_s_used=None, max_rss_mb=None, energy_j=None,
        billing=weights.billing(cpus=cpus, mem_mb=0.0, gpus=gpus, nodes=nodes),
        exit_code=step.exit_code)


class Accounting:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.weights = billing_weights(ctl.cfg)
        # the steps and run of jobs that left their nodes, until their end or requeue
        # is recorded
        self.ended_steps: dict[int, list[Step]] = {}
        self.left_runs: dict[int, UsageRecord] = {}

    def weights_of(self, partition: str) -> BillingWeights:
        return self.weights.get(partition) or BillingWeights()

    def alloc_cpus(self, job: Job) -> int:
        if not job.spec.exclusive:
            return job.cpus
        held = [self.ctl.nodes[n].cpus for n in job.nodes if n in self.ctl.nodes]
        return sum(held) if len(held) == len(job.nodes) and held else job.cpus

    def sites_of(self, job: Job) -> str:
        """Its nodes' sites, in node order ("" when none has one)."""
        nodes = self.ctl.nodes
        sites = [n.site if (n := nodes.get(name)) is not None else "" for name in job.nodes]
        return ",".join(sites) if any(sites) else ""

    def left_nodes(self, job: Job, steps: Iterable[Step]) -> None:
        """The job left its nodes (it ended, or is being requeued): its run so far and
        the steps it had, for the record its end or requeue writes."""
        kept = list(steps)
        if kept:
            self.ended_steps[job.id] = kept
        else:
            self.ended_steps.pop(job.id, None)
        if job.t_start is not None:
            self.left_runs[job.id] = job_record(
                job, self.weights_of(job.partition), alloc_cpus=self.alloc_cpus(job),
                t_end=time.time(), sites=self.sites_of(job))

    def on_end(self, job: Job, op: Callable[[Connection], Any]) -> Callable[[Connection], Any]:
        """The job reached a final state: its records go in `op`'s transaction."""
        self.left_runs.pop(job.id, None)
        w = self.weights_of(job.partition)
        now = time.time()
        records = [job_record(job, w, alloc_cpus=self.alloc_cpus(job), t_end=now,
                              sites=self.sites_of(job))]
        end = records[0].t_end
        for step in self.ended_steps.pop(job.id, []):
            if job.t_start is None or step.t_start >= job.t_start:  # this run's
                records.append(step_record(job, step, w, end))

        def both(conn: Connection) -> Any:
            out = op(conn)
            deferred.defer(conn, store_usage.write_records, records)
            return out
        return both

    def on_requeue(self, job: Job, op: Callable[[Connection], Any]
                   ) -> Callable[[Connection], Any]:
        """The job went back to the queue: the run it left counts in the rollups (its
        record is the last run's, written at its end)."""
        self.ended_steps.pop(job.id, None)
        run = self.left_runs.pop(job.id, None)
        if run is None:
            return op

        def both(conn: Connection) -> Any:
            out = op(conn)
            store_usage.add_runs(conn, [run])
            return out
        return both

    async def load_usage(self, usage: Usage, now: float) -> None:
        """Fair-share's decayed usage at start-up, over ten half-lives: from the hourly
        rollups (each hour's CPU-seconds charged as of its end), and for what ended
        before usage records were kept, from the job rows."""
        since = now - 10 * usage.half_life_s

        def read(conn: Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            first = store_usage.first_record_end(conn)
            before = store_usage.ended_before_records(
                conn, since, now + 1 if first is None else first)
            hourly = [] if first is None else store_usage.cpu_s_per_hour(
                conn, hour_of(since))
            return before, hourly
        before, hourly = await self.ctl.writer.read(read)
        for account, user, cpu_s, t_end in before:
            usage.charge((account or None, user), cpu_s, t_end, now)
        for hour, user, account, cpu_s in hourly:
            usage.charge((account or None, user), float(cpu_s),
                         min(float(hour) + HOUR_S, now), now)

    async def load_site_usage(self, site_usage: SiteUsage, now: float) -> None:
        """The sites' decayed usage at start-up, over ten half-lives, from the usage
        records of the jobs that ran on nodes of a site."""
        since = now - 10 * site_usage.half_life_s
        runs = await self.ctl.writer.read(lambda conn: store_usage.site_runs_since(conn, since))
        for sites, account, user, cpu_s, t_end in runs:
            site_usage.charge(str(sites).split(","), (account or None, user),
                              float(cpu_s), float(t_end), now)

    # ---- capacity ------------------------------------------------------------------
    def capacity_now(self) -> tuple[int, int, int, int]:
        """CPUs: all; not running jobs on nodes down or drained; idle in a reservation;
        idle in a maintenance reservation."""
        total = down = reserved = planned = 0
        now = time.time()
        resv: dict[str, bool] = {}  # node -> in a maintenance reservation
        for r in self.ctl.reservations.items.values():
            if r.t_start <= now < r.t_end:
                for name in r.nodes:
                    resv[name] = resv.get(name, False) or r.maintenance
        for n in self.ctl.nodes.values():
            total += n.cpus
            free = max(0, n.cpus - n.cpus_used)
            if not n.reachable or n.drain:
                down += free
            elif n.name in resv:
                if resv[n.name]:
                    planned += free
                else:
                    reserved += free
        return total, down, reserved, planned

    async def loop(self) -> None:
        """Every `accounting.capacity_sample_s`: the capacity since the last sample,
        spread over the hours it fell in."""
        every = self.ctl.cfg.accounting.capacity_sample_s
        last = time.time()
        while True:
            await asyncio.sleep(every)
            now = time.time()
            cpus = self.capacity_now()
            hours = {h: (cpus[0] * s, cpus[1] * s, cpus[2] * s, cpus[3] * s)
                     for h, s in split_hours(last, now)}
            last = now

            def add(conn: Connection, hours: dict[int, store_usage.Capacity] = hours) -> None:
                store_usage.add_capacity(conn, hours)
            try:
                await self.ctl.writer.run(add)
            except Exception:  # the reports lose a sample; the controller goes on
                log.warning("could not record the cluster's capacity", exc_info=True)


def live_usage(jobs: Iterable[Job], nodes: dict[str, Node], start: float, end: float
               ) -> Iterable[tuple[Job, int, float, float]]:
    """Running jobs' part in [start, end): (job, CPUs, t0, t1) clipped to it."""
    now = time.time()
    for j in jobs:
        if j.t_start is None or not j.state.is_active:
            continue
        t0, t1 = max(start, j.t_start), min(end, now)
        if t1 > t0:
            cpus = j.cpus
            if j.spec.exclusive:
                cpus = sum(nodes[n].cpus for n in j.nodes if n in nodes) or cpus
            yield j, cpus, t0, t1


def load_finished(conn: Connection, jobs: Sequence[Job],
                  weights: Mapping[str, BillingWeights]) -> list[int]:
    """Store finished jobs that ran elsewhere or before (an import, a replayed trace)
    with their usage records, as the controller records a job's end (job_record,
    store/usage.write_records), in the caller's transaction. -> their new ids."""
    ids = store_jobs.insert_history(conn, jobs)
    records = [job_record(j, weights.get(j.partition, CPU_ONLY), job_id=i)
               for j, i in zip(jobs, ids, strict=True)]
    store_usage.write_records(conn, records, fresh=True)
    return ids


def add_capacity_span(conn: Connection, t0: float, t1: float, cpus: int) -> None:
    """A cluster of `cpus` CPUs, all up, over [t0, t1) (with load_finished)."""
    store_usage.add_capacity(conn, {h: (cpus * s, 0.0, 0.0, 0.0)
                                    for h, s in split_hours(t0, t1)})
