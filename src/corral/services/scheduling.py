"""The scheduling loop: snapshot -> pure core (corral.sched) -> apply decisions.

Event-driven: a submit, an end, a release or a new node kicks a pass; a pass also
runs at least every `scheduler.max_interval_s` (ageing) and when the earliest begin
time comes. Kicks coalesce: those that arrive while a pass runs, or within a short
gap after it (as long as the pass took, at most MAX_GAP_S), make one more pass, so
a burst of submits costs a pass or two, while a submit to an idle controller is
scheduled at once. The pure core runs in a worker thread on an immutable snapshot
when the queue is large, so reads never wait on it.

A pass walks only the jobs that could start: the queue's index of pending jobs
(services/jobtable.py), less those whose begin time is ahead (they wait in a heap
of begin times) and those blocked by a dependency (judged again only when some
job's state changed). Held jobs are not walked at all. Each pending job's view for
the core is built once per change of the job and reused by every pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral import sched
from corral.config import SchedulerConfig
from corral.logs import log_ids
from corral.model.arrays import array_throttle
from corral.model.deps import DepStatus
from corral.model.features import join_constraint
from corral.model.job import Job
from corral.model.licenses import parse_licenses
from corral.model.states import JobState
from corral.sched.isolate import failing_jobs
from corral.sched.types import (
    NodeView,
    PartitionView,
    PendingView,
    Reason,
    RunningView,
    SiteFairshare,
    Snapshot,
)
from corral.services import gres, node_checks, pass_commands
from corral.services.commands import Outcome
from corral.services.launch import cpu_binding, launch_order
from corral.services.limits import limits_of, site_limits_of
from corral.services.matchmaking import Matchmaker
from corral.services.submit import gpu_types, partition_nodes
from corral.store import jobs as store_jobs

if TYPE_CHECKING:
    from corral.services.controller import Controller

log = logging.getLogger("corral.scheduler")

RUNTIME_HISTORY_JOBS = 4000  # finished jobs a predicting policy learns from at start
MAX_GAP_S = 0.05  # the longest a kick waits for the previous pass's coalescing gap
_ACTIVE = tuple(s for s in JobState if s.is_active)

POLICIES: dict[str, Callable[[], sched.Policy]] = {
    "fcfs": sched.FCFS,
    "easy": sched.EASY,
    "conservative": sched.Conservative,
    "easy++": sched.EasyPlusPlus,
    "predictive": sched.Predictive,
}


def make_policy(cfg: SchedulerConfig, *, preemption: bool) -> sched.Policy:
    weights = sched.PriorityWeights(**cfg.weights.model_dump())  # the same fields
    if cfg.policy == "predictive":
        return sched.Predictive.from_settings(
            {**cfg.predictive_settings(), "weights": weights, "preemption": preemption})
    extra: dict[str, float] = {}
    if cfg.policy == "easy++":
        extra["integer_mean"] = False
    return POLICIES[cfg.policy](weights=weights, preemption=preemption,  # type: ignore[call-arg]
                                **extra)


class Scheduler:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.limits = limits_of(ctl.cfg)
        self.site_limits = site_limits_of(ctl.cfg)
        self.policy = make_policy(
            ctl.cfg.scheduler,
            preemption=(any(p.preempt_mode != "off" for p in ctl.cfg.partitions)
                        or any(q.preempt for q in ctl.cfg.qos)))
        self.passes = 0
        self.last_pass_s = 0.0
        self.doomed: list[Job] = []  # dependency never satisfiable: to fail
        self.rest_views: dict[int, list[int]] = {}  # array id -> its tasks in this pass
        self.last_work_s = 0.0  # the last pass's own work (its writes' commit aside)
        self.t_last_end = 0.0  # monotonic
        self.t_next_begin: float | None = None  # the earliest begin time still ahead
        # job id -> (JobTable generation, status) of a job that has dependencies
        self._dep_status: dict[int, tuple[int, DepStatus]] = {}
        self.match = Matchmaker(ctl.cfg)  # Requirements and Rank on the node ads

    async def learn_runtimes(self) -> None:
        """Teach a predicting policy (EASY++, predictive) the runtimes of the last
        jobs that ended, from the store, so that a restarted or new leader predicts
        as the last one did; its learned model's library is imported meanwhile off
        the event loop (the first fit would otherwise stall it)."""
        policy = self.policy
        if not policy.uses_predictions:
            return
        predictor = getattr(policy, "predictor", None)
        if isinstance(predictor, sched.LearnedPredictor):
            await asyncio.to_thread(predictor.load_library)
        rows = await self.ctl.writer.read(
            lambda conn: store_jobs.recent_runtimes(conn, RUNTIME_HISTORY_JOBS))
        for user, limit_s, run_s in rows:
            policy.record_finish(user, run_s, limit_s)
        if rows:
            log.info("runtime predictions learned from the last %d jobs that ended", len(rows))

    def _wait_s(self) -> float:
        wait_s = self.ctl.cfg.scheduler.max_interval_s
        if self.t_next_begin is not None:
            wait_s = max(0.0, min(wait_s, self.t_next_begin - time.time()))
        return wait_s

    async def loop(self) -> None:
        while True:
            await self.ctl.wait_kick(self._wait_s())
            gap_s = min(MAX_GAP_S, self.last_work_s) - (time.monotonic() - self.t_last_end)
            if gap_s > 0:  # coalesce: the kicks of a burst wait for one pass
                await asyncio.sleep(gap_s)
            self.ctl.clear_kick()
            try:
                self.last_work_s = 0.0
                await self.run_pass()
                self.t_last_end = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduling pass failed; retrying at the next kick")
                await asyncio.sleep(0.5)

    def snapshot(self) -> Snapshot:
        ctl = self.ctl
        self.match.refresh(ctl.nodes.values())
        nodes = tuple(
            NodeView(
                name=n.name, cpus=n.cpus, mem_mb=n.mem_mb, gpus=n.gpus,
                features=frozenset(n.features), cpus_free=n.cpus - n.cpus_used,
                mem_mb_free=n.mem_mb - n.mem_mb_used, gpus_free=n.gpus - n.gpus_used,
                available=n.reachable and not n.drain,
                gres=tuple(sorted(n.gres.items())), gres_free=gres.free(n),
                t_deadline=n.t_deadline if n.t_deadline is not None else math.inf,
                site=n.site, cpu_layout=n.cpu_layout,
                cpus_held=tuple(n.cpus_held.items()) if n.cpu_layout is not None else (),
                gpu_numa=n.gpu_numa, gpu_ids_used=frozenset(n.gpu_ids_used),
            )
            for n in ctl.nodes.values()
        )
        running: list[RunningView] = []
        pending: list[PendingView] = []
        room = self._array_room()
        predicting = self.policy.uses_predictions
        part_cfg = {p.name: p for p in ctl.cfg.partitions}
        now = time.time()
        jobs = ctl.jobs
        for i in jobs.ids_in(*_ACTIVE):
            j = jobs[i]
            t0 = j.t_start or time.time()
            t_end = t0 + j.time_limit_s if j.time_limit_s else math.inf
            lent = j.id in ctl.lent  # suspended: holds only its memory
            running.append(RunningView(
                job_id=j.id, nodes=j.nodes,
                cpus_per_node=0 if lent else j.spec.cpus_per_node,
                mem_mb_per_node=j.mem_mb_per_node or 0,
                gpus_per_node=0 if lent else j.spec.gpus_per_node, t_start=t0,
                t_expected_end=t_end,
                t_predicted_end=(self.policy.predicted_end(t0, t_end, j.user)
                                 if predicting and t_end < math.inf else None),
                user=j.user, exclusive=j.spec.exclusive and not lent,
                preemptible=(not lent and j.partition in part_cfg
                             and part_cfg[j.partition].preempt_mode != "off"),
                priority_tier=(part_cfg[j.partition].priority_tier
                               if j.partition in part_cfg else None),
                qos=j.spec.qos, account=j.spec.account,
                licenses=parse_licenses(j.spec.licenses) if j.spec.licenses else (),
                gres_per_node=gres.of_job(j),
            ))
        nodes_of_type: dict[str, frozenset[str]] = {}  # GPU model -> its nodes, once a pass
        for name, model in gpu_types(ctl.cfg).items():
            nodes_of_type[model] = nodes_of_type.get(model, frozenset()) | {name}
        for j in self._startable(now):
            if not self._eligible(j, room):
                continue
            views = j.views
            if views is None:
                views = j.views = {}
            view = views.get("pending")
            if view is None:
                view = views["pending"] = _pending_view(j, j.id, cpu_binding(ctl.cfg, j))
            view = self.match.apply(j, view)
            if j.spec.gpu_type is not None:
                view = _typed(view, nodes_of_type.get(j.spec.gpu_type, frozenset()))
            pending.append(view)
        pending += self._rest_views(room)
        partitions = {
            p.name: PartitionView(
                name=p.name,
                nodes=frozenset(n.name for n in partition_nodes(p, ctl.nodes.values())),
                max_time_s=p.max_time_s or math.inf, priority_tier=p.priority_tier,
            )
            for p in ctl.cfg.partitions
        }
        return Snapshot(nodes=nodes, running=tuple(running), pending=tuple(pending),
                        partitions=partitions, usage_cpu_s=ctl.usage.current(now),
                        shares={a.name: a.shares for a in ctl.cfg.accounts},
                        qos_priority=ctl.assoc.qos_priority(),
                        assoc_fairshare=(ctl.assoc.factors(now)
                                         if ctl.cfg.scheduler.weights.fairshare else {}),
                        reservations=ctl.reservations.views(now),
                        qos_preempts={q.name: frozenset(q.preempt) for q in ctl.cfg.qos
                                      if q.preempt},
                        limits=ctl.assoc.limits(self.limits),
                        licenses=dict(ctl.cfg.licenses),
                        site_limits=self.site_limits,
                        site_fairshare=self._site_fairshare(now))

    def _site_fairshare(self, now: float) -> dict[str, SiteFairshare]:
        """The sites with a fair-share of their own: usage on their nodes, shares."""
        cfg = self.ctl.cfg
        if not cfg.fairshare.sites or not cfg.scheduler.weights.fairshare:
            return {}
        whole = {a.name: a.shares for a in cfg.accounts}
        return {name: SiteFairshare(usage_cpu_s=self.ctl.site_usage.current(name, now),
                                    shares=dict(site.shares) if site.shares else whole)
                for name, site in cfg.fairshare.sites.items()}

    def _startable(self, now: float) -> list[Job]:
        """The pending jobs, in id order, less those whose begin time is ahead. Those
        are marked as such in their views (dropped when the job changes: an update
        of its begin time, a hold and release), so each costs a look-up per pass."""
        jobs = self.ctl.jobs
        out: list[Job] = []
        next_begin = math.inf
        for i in jobs.by_state[JobState.PENDING]:
            j = jobs[i]
            views = j.views
            until = views.get("deferred_until") if views is not None else None
            if until is None:
                t_begin = j.spec.t_begin
                if t_begin is None or t_begin <= now:
                    out.append(j)
                    continue
                if j.reason != Reason.BEGIN_TIME:
                    j.reason = Reason.BEGIN_TIME
                if j.t_eligible_est != t_begin:
                    j.t_eligible_est = t_begin
                if views is None:
                    views = j.views = {}
                until = views["deferred_until"] = t_begin
            elif until <= now:
                out.append(j)
                continue
            next_begin = min(next_begin, until)
        self.t_next_begin = None if next_begin == math.inf else next_begin
        out.sort(key=lambda j: j.id)
        return out

    def _array_room(self) -> dict[int, int]:
        """For each throttled array (%N), how many more of its tasks may start."""
        room: dict[int, int] = {}
        for rest in self.ctl.arrays.rests.values():
            if rest.throttle is not None:
                room[rest.id] = rest.throttle
        unthrottled: set[int] = set()
        jobs = self.ctl.jobs
        if not jobs.array_tasks:
            return room
        for j in (jobs[i] for i in jobs.ids_in(JobState.PENDING, *_ACTIVE)):
            if j.array_job_id is None or not j.spec.array or j.array_job_id in unthrottled:
                continue
            if j.array_job_id not in room:
                throttle = array_throttle(j.spec.array)
                if throttle is None:
                    unthrottled.add(j.array_job_id)
                    continue
                room[j.array_job_id] = throttle
            if j.state.is_active:
                room[j.array_job_id] -= 1
        return room

    def _rest_views(self, room: dict[int, int]) -> list[PendingView]:
        """The pending tasks of each array's rest that could start in this pass: all
        alike, so only as many as the free CPUs could hold (all of them with
        preemption), one more to carry the rest's reason, and no more than the
        throttle allows. The others wait in the rest, costing the pass nothing."""
        self.rest_views.clear()
        nodes = [n for n in self.ctl.nodes.values() if n.reachable and not n.drain]
        if self.policy.preemption:
            cpus = sum(n.cpus for n in nodes)
        else:
            cpus = sum(max(0, n.cpus - n.cpus_used) for n in nodes)
        out: list[PendingView] = []
        for rest in list(self.ctl.arrays.rests.values()):
            t = rest.template
            if t.state != JobState.PENDING:
                continue
            k = cpus // max(1, t.spec.cpus_per_node * t.spec.nodes) + 1
            if rest.id in room:
                k = min(k, room[rest.id])
            if not self._eligible(t, {}):
                continue
            if k <= 0:
                t.reason = Reason.ARRAY_TASK_LIMIT
                continue
            ids = rest.first_ids(k)
            if rest.id in room:
                room[rest.id] -= len(ids)
            self.rest_views[rest.id] = ids
            binding = cpu_binding(self.ctl.cfg, t)
            out += [self.match.apply(t, _pending_view(t, i, binding)) for i in ids]
        return out

    def _note_rests(self, decisions: sched.Decisions) -> None:
        """Each rest takes the reason and priority of its first task left waiting."""
        for array_id, ids in self.rest_views.items():
            rest = self.ctl.arrays.rests.get(array_id)
            info = next((decisions.pending[i] for i in ids if i in decisions.pending), None)
            if rest is None or info is None or rest.template.state != JobState.PENDING:
                continue
            t = rest.template
            t.reason, t.priority = info.reason, info.priority
            t.priority_factors = decisions.factors.get(info.job_id)
            t.t_eligible_est = info.t_expected_start

    def _eligible(self, job: Job, room: dict[int, int]) -> bool:
        """Dependencies and array throttles, which the controller judges itself."""
        status = self._dependency_status(job)
        if status == DepStatus.WAITING:
            _set_reason(job, Reason.DEPENDENCY)
            return False
        if status == DepStatus.NEVER:
            _set_reason(job, Reason.DEPENDENCY_NEVER)
            if job.spec.kill_on_invalid_dep:
                self.doomed.append(job)
            return False
        if job.array_job_id in room:
            if room[job.array_job_id] <= 0:
                _set_reason(job, Reason.ARRAY_TASK_LIMIT)
                return False
            room[job.array_job_id] -= 1
        return True

    def _dependency_status(self, job: Job) -> DepStatus:
        """Judged again only when some job's state changed since (or a job came or went)."""
        if not job.spec.dependency:
            return DepStatus.SATISFIED
        generation = self.ctl.jobs.generation
        known = self._dep_status.get(job.id)
        if known is not None and known[0] == generation:
            return known[1]
        status = self.ctl.deps.status(job)
        if len(self._dep_status) > 4 * len(self.ctl.jobs) + 1000:
            self._dep_status.clear()  # forget those of jobs long gone
        self._dep_status[job.id] = (generation, status)
        return status

    async def _fail_doomed(self) -> None:
        ctl = self.ctl
        ops = []
        now = time.time()
        for job in self.doomed:
            rest = ctl.arrays.rests.get(job.id)
            if rest is not None and rest.template is job:
                ops.append(ctl.arrays.end_rest(rest, JobState.FAILED, {
                    "why": pass_commands.NEVER_SATISFIABLE}))
            elif ctl.jobs.get(job.id) is job:
                ops.extend(ctl.apply_outcome(pass_commands.never_satisfiable(job, now)))
        self.doomed.clear()
        if ops:
            await ctl.persist(lambda conn: [op(conn) for op in ops])
            await ctl.notify_finished()
            ctl.kick()

    async def run_pass(self) -> None:
        ctl = self.ctl
        if ctl.suspended_for:
            await ctl.resume_suspended()
        t_work = time.perf_counter()
        snap = self.snapshot()
        await self._fail_doomed()
        if not snap.pending:
            return
        now = time.time()
        t0 = time.perf_counter()
        try:
            if len(snap.pending) + len(snap.running) < 200:
                decisions = sched.run_cycle(snap, self.policy, now)
            else:
                decisions = await asyncio.to_thread(sched.run_cycle, snap, self.policy, now)
        except Exception as err:
            decisions = await self._without_failing_jobs(snap, now, err)
        self.last_pass_s = time.perf_counter() - t0
        self.passes += 1
        if decisions.preempt:
            await ctl.preempt(decisions.preempt, decisions.preemptor)
        for info in decisions.pending.values():
            job = ctl.jobs.get(info.job_id)
            if job is not None and job.state.is_waiting:
                if job.state == JobState.PENDING:
                    _set_reason(job, info.reason)
                # only what changed: an unchanged job keeps its rendering (readmodel.py)
                if job.priority != info.priority:
                    job.priority = info.priority
                factors = decisions.factors.get(info.job_id)
                if job.priority_factors != factors:
                    job.priority_factors = factors
                if job.t_eligible_est != info.t_expected_start:
                    job.t_eligible_est = info.t_expected_start
        self._note_rests(decisions)
        ops: list[Callable[[Connection], Any]] = []
        started: list[tuple[Job, Outcome]] = []
        make_order = functools.partial(launch_order, ctl.cfg, nodes=ctl.nodes)
        for placed in decisions.starts:
            job = ctl.jobs.get(placed.job_id) or ctl.arrays.view(placed.job_id)
            if job is None or job.state != JobState.PENDING \
                    or not pass_commands.fits(job, placed.nodes, ctl.nodes):
                continue  # changed while the core was thinking; the next pass retries
            if placed.job_id not in ctl.jobs:  # a task leaves its array's rest
                job = ctl.arrays.detach(placed.job_id) or job
            # devices and CPU ids are chosen afresh for each run (services/pass_commands.py)
            out = pass_commands.start(job, placed, ctl.nodes, time.time(), make_order)
            if out is None:
                continue
            ops.extend(ctl.apply_outcome(out))  # the next start sees what this one took
            started.append((job, out))
        self.last_work_s = time.perf_counter() - t_work
        if not ops:
            return
        await ctl.persist(lambda conn: [op(conn) for op in ops])
        ctl.counters["jobs_started"] += len(started)
        for job, out in started:
            if job.state.is_active:  # a cancel in the meantime is ordered after this
                # The batch script runs on the first node; the others are allocated
                # to it (its tasks reach them through the job's node list).
                ctl.send_orders(out)
                node_checks.job_started(ctl, job)

    async def _without_failing_jobs(self, snap: Snapshot, now: float,
                                    err: Exception) -> sched.Decisions:
        """The cycle raised: find the pending jobs that make it raise (sched.isolate),
        hold them with reason SchedulingFailed and the error, and plan the others.
        A fault no single job causes is raised again: the pass fails as a whole."""
        failing = await asyncio.to_thread(failing_jobs, snap, self.policy, now)
        if not failing:
            raise err
        ops: list[Callable[[Connection], Any]] = []
        for job_id, error in failing.items():
            job = self.ctl.jobs.get(job_id)
            if job is None or not job.state.is_waiting:
                continue
            log.error("job %d: held, the scheduler fails on it: %s", job_id, error,
                      extra=log_ids(job_id=job_id))
            ops.extend(self.ctl.apply_outcome(pass_commands.scheduler_hold(job, error, now)))
        if ops:
            await self.ctl.persist(lambda conn: [op(conn) for op in ops])
        rest = tuple(p for p in snap.pending if p.job_id not in failing)
        return await asyncio.to_thread(sched.run_cycle, dataclasses.replace(snap, pending=rest),
                                       self.policy, now)


def _typed(view: PendingView, ok: frozenset[str]) -> PendingView:
    """Only the nodes whose GPUs are of the type the job asks (`ok`) and that its
    Requirements allow."""
    if view.eligible_nodes is not None:
        ok &= view.eligible_nodes
    return dataclasses.replace(view, eligible_nodes=ok)


def _set_reason(job: Job, reason: str) -> None:
    if job.reason != reason:  # unchanged: the job keeps its rendering (readmodel.py)
        job.reason = reason


def _pending_view(j: Job, job_id: int, binding: tuple[str, str, str]) -> PendingView:
    cpu_bind, core_type, gres_flags = binding
    return PendingView(
        job_id=job_id, user=j.user, account=j.spec.account, partition=j.partition,
        nodes=j.spec.nodes, cpus_per_node=j.spec.cpus_per_node,
        mem_mb_per_node=j.mem_mb_per_node or 0, gpus_per_node=j.spec.gpus_per_node,
        time_limit_s=j.time_limit_s or math.inf, t_submit=j.t_submit,
        t_begin=j.spec.t_begin, held=j.state == JobState.HELD, nice=j.spec.nice,
        admin_priority=j.spec.priority, constraint=join_constraint(j.spec.features),
        exclusive=j.spec.exclusive, qos=j.spec.qos, reservation=j.spec.reservation,
        required_nodes=frozenset(j.spec.nodelist), excluded_nodes=frozenset(j.spec.exclude),
        licenses=parse_licenses(j.spec.licenses) if j.spec.licenses else (),
        gres_per_node=gres.of_job(j),
        # the core type it asks is a must; the one energy-aware scheduling gives it,
        # a preference
        core_type=j.spec.core_type or "",
        prefer_core_type="" if j.spec.core_type else core_type,
        cpu_bind=cpu_bind, gres_flags=gres_flags,
    )
