"""The controller: the single writer of authoritative state.

State lives in memory for speed and is made durable in the store before any
request is acknowledged (docs/specs/01-job-states.md). Mutations are applied to
memory synchronously on the event loop (so check-and-change is atomic), then
persisted through the group-commit writer; callers are answered after the commit.
If a commit ever fails the process exits: on restart the store is the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine

from corral.config import Config
from corral.model.arrays import ArrayRest
from corral.model.deps import parse_dependency
from corral.model.errors import CorralError, NotFound
from corral.model.event import Event
from corral.model.gpus import choose as choose_gpus
from corral.model.job import Job, JobSpec
from corral.model.node import Node
from corral.model.signals import parse_signal_spec
from corral.model.states import JobState
from corral.services import gres, node_checks, submission
from corral.services.access import Access
from corral.services.accounting import Accounting
from corral.services.arrays import Arrays
from corral.services.assoc import Associations
from corral.services.audit import AuditTrail
from corral.services.commands import Rules
from corral.services.control import JobControl
from corral.services.credentials import Credentials
from corral.services.dependencies import Dependencies
from corral.services.gres import node_gres
from corral.services.idempotency import IdempotentSubmit, SubmitKey
from corral.services.identity import Caller, RolePolicy
from corral.services.jobtable import JobTable
from corral.services.leases import Leases, expire
from corral.services.orders import OrderBook
from corral.services.reservations import Reservations
from corral.services.runtime import Runtime, SubmitBatches
from corral.services.scheduling import Scheduler
from corral.services.site_usage import SiteUsage
from corral.services.snapshot import Publisher
from corral.services.state import ClusterState
from corral.services.steps import Steps
from corral.services.submit_filter import SubmitFilter
from corral.services.usage import Usage
from corral.services.uws.jobs import UwsJobs
from corral.services.writer import Writer
from corral.store import arrays as store_arrays
from corral.store import events as store_events
from corral.store import jobs as store_jobs
from corral.store import nodes as store_nodes
from corral.store import submit_keys as store_submit_keys

log = logging.getLogger("corral.controller")


class Controller(Runtime, JobControl):
    def __init__(self, cfg: Config, engine: Engine) -> None:
        self.cfg = cfg
        self.engine = engine
        self.access = Access(private_jobs="jobs" in cfg.controller.private_data)
        self.roles = RolePolicy.of(cfg.roles)  # who is an operator or administrator
        self.idempotent = IdempotentSubmit(self)
        self.submit_filter = SubmitFilter(cfg.controller.submit_filter)
        self.writer = Writer(engine)
        self.submits = SubmitBatches()  # jobs submitted together: one insert
        self.jobs = JobTable()
        # the jobs as services/state.py's plain state: applied events move them
        self.state = ClusterState(jobs=self.jobs, on_move=self.jobs.restate)
        self.publisher = Publisher(self)  # the read model (services/snapshot.py)
        self.nodes: dict[str, Node] = {}
        self.node_boot: dict[str, str] = {}
        # node -> the agent process that registered last, as stored: one that
        # registers again with the same id has lived through a controller restart
        self.last_boot: dict[str, str] = {}
        self.node_address: dict[str, str] = {}  # as each agent reports it (step I/O)
        self.orders = OrderBook()
        self.leases = Leases(cfg.controller.node_lease_s, cfg.controller.kill_grace_s)
        self._kick = asyncio.Event()
        self._finished = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self.t_started = time.time()
        self.scheduler: Scheduler | None = None  # set in start()
        self.deps = Dependencies(self)
        self.arrays = Arrays(self)
        self.suspended_for: dict[int, int | None] = {}  # suspended job -> its preemptor
        self.lent: set[int] = set()  # suspended jobs whose CPUs and GPUs are lent
        self.end_codes: dict[int, int] = {}  # allocations ended by their client -> exit code
        self.usage = Usage(cfg.scheduler.fairshare_half_life_s)
        self.site_usage = SiteUsage(cfg.scheduler.fairshare_half_life_s)  # per site
        self.reservations = Reservations(self, self.state)
        # what the command handlers need of the site (services/commands.py)
        self.rules = Rules(
            self.access, cfg.controller.kill_grace_s, cfg.controller.max_retries,
            preempt_modes={p.name: p.preempt_mode for p in cfg.partitions},
            qos_preempt_modes={q.name: q.preempt_mode for q in cfg.qos})
        self.assoc = Associations(self)
        self.steps = Steps(self)
        self.accounting = Accounting(self)  # usage records as jobs end, capacity samples
        # monotonic counters for /metrics: jobs_submitted, jobs_started, jobs_ended
        self.counters: dict[str, int] = {"jobs_submitted": 0, "jobs_started": 0,
                                         "jobs_ended": 0}
        self.audit = AuditTrail(self.writer, self.counters)  # (api/audit.py)
        self.credentials = Credentials(self)  # jobs' renewed tokens (--credential)
        self.uws = UwsJobs(self)  # the IVOA UWS job list's jobs (docs/uws.md)
        self.submit_site = self._submit_site()
        self.state.on_rest = self.arrays.added  # a submitted array's rest

    # ---- life cycle -------------------------------------------------------
    async def start(self, *, warm: bool = False) -> None:
        """Load the state and run. `warm`: the jobs are those a follower's copy of
        the log holds already (services/follow.py), not read again."""
        self.writer.start()
        # the unfinished jobs, and the finished ones still within their retention
        since = time.time() - self.cfg.controller.keep_finished_s
        if warm:
            jobs = list(self.jobs.values())
            nodes = await self.writer.read(store_nodes.load_nodes)
        else:
            for job_id in list(self.jobs):  # (a copy that no longer fits the log)
                del self.jobs[job_id]
            jobs, nodes = await self.writer.read(lambda conn: _load_state(conn, since))
        self.writer.last_seq = await self.writer.read(store_events.last_seq)
        await self.writer.read(self.arrays.reload)
        self.last_boot = await self.writer.read(store_nodes.load_boot_ids)
        configured_gres = node_gres(self.cfg)
        for n in nodes:
            n.reachable = False
            n.gres = configured_gres.get(n.name, {})
            self.nodes[n.name] = n
        self.leases.start(self.nodes)  # each node has a full lease to come back in
        for j in jobs:
            self.jobs[j.id] = j
            if j.state.is_active:
                self.allocate(j)
                if j.state == JobState.SUSPENDED:
                    self.lend_resources(j, back=False)
                    self.suspended_for[j.id] = None  # resumes when there is room
            if j.array_job_id is not None:
                self.deps.add_array(j.array_job_id, [j.id])
        missing: set[int] = set()
        for j in jobs:
            if j.spec.dependency and not j.state.is_final:
                missing |= self.deps.missing(parse_dependency(j.spec.dependency))
        await self.writer.read(lambda conn: self.deps.load(conn, missing))
        await self.writer.read(self.reservations.load)
        await self.assoc.load()
        await self.credentials.load()
        await self.accounting.load_usage(self.usage, time.time())  # (its rollups)
        await self.accounting.load_site_usage(self.site_usage, time.time())
        log.info("%s %d jobs (%d unfinished), %d array rests and %d nodes",
                 "took over the followed" if warm else "loaded", len(jobs),
                 sum(not j.state.is_final for j in jobs), len(self.arrays.rests), len(nodes))
        self.scheduler = Scheduler(self)
        await self.scheduler.learn_runtimes()
        self.publisher.start()
        self._tasks.append(asyncio.create_task(self.scheduler.loop(), name="scheduler"))
        self._tasks.append(asyncio.create_task(self.publisher.loop(), name="publisher"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="housekeeping"))
        self._tasks.append(asyncio.create_task(self.accounting.loop(), name="accounting"))
        self._tasks.append(asyncio.create_task(self.credentials.loop(), name="credentials"))
        if self.cfg.uws.enabled:  # destruction times
            self._tasks.append(asyncio.create_task(self.uws.loop(), name="uws"))
        self._tasks.append(asyncio.create_task(
            self.audit.prune_loop(self.cfg.audit.retain_days, self.cfg.audit.prune_every_s),
            name="audit-retention"))
        self.kick()

    async def stop(self) -> None:
        self.publisher.stop()
        for t in self._tasks:
            t.cancel()
        # bounded: a task stuck in a cancelled wait must not hold up the shutdown
        await asyncio.wait(self._tasks, timeout=2.0)
        await self.audit.sync()
        await self.credentials.close()
        await self.writer.stop()

    def kick(self) -> None:
        """Ask for a scheduling pass (after a submit, an end, a release…)."""
        self._kick.set()

    async def wait_kick(self, timeout_s: float) -> None:
        """Until a pass is asked for, or timeout_s; the caller then clear_kick()s."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), timeout=timeout_s)

    def clear_kick(self) -> None:
        self._kick.clear()

    async def notify_finished(self) -> None:
        async with self._finished:
            self._finished.notify_all()

    # ---- resources ----------------------------------------------------------
    def allocate(self, job: Job) -> None:
        for name in job.nodes:
            n = self.nodes.get(name)
            if n is None:
                continue
            n.cpus_used += n.cpus if job.spec.exclusive else job.spec.cpus_per_node
            n.mem_mb_used += job.mem_mb_per_node or 0
            n.gpus_used += job.spec.gpus_per_node
            n.jobs.add(job.id)
            cpu_ids = job.cpu_ids.get(name)
            if cpu_ids:  # chosen by the scheduler, or reloaded at start-up
                n.cpus_held[job.id] = cpu_ids
            if job.spec.gpus_per_node:
                self._take_gpus(job, n)
            if job.spec.gres:
                gres.hold(n, gres.of_job(job), 1)

    @staticmethod
    def _take_gpus(job: Job, n: Node) -> None:
        """The job's GPU devices on node n: those it holds already (reloaded at
        start-up), else free ones (model/gpus.choose: of one NUMA domain if it can)."""
        ids = job.gpu_ids.get(n.name)
        if ids is None:
            ids = choose_gpus(n.gpus, n.gpu_ids_used, job.spec.gpus_per_node, n.gpu_numa)
            job.gpu_ids = {**job.gpu_ids, n.name: ids}
        n.gpu_ids_used |= set(ids)

    def release_resources(self, job: Job) -> None:
        self.steps.job_ended(job)
        node_checks.job_left(self, job)
        job.live_usage = None
        for name in job.nodes:
            n = self.nodes.get(name)
            if n is None or job.id not in n.jobs:
                continue
            if job.id not in self.lent:  # a suspended job lent these already
                n.cpus_used -= n.cpus if job.spec.exclusive else job.spec.cpus_per_node
                n.gpus_used -= job.spec.gpus_per_node
                n.gpu_ids_used -= set(job.gpu_ids.get(name, ()))
                n.cpus_held.pop(job.id, None)
            n.mem_mb_used -= job.mem_mb_per_node or 0
            if job.spec.gres:
                gres.hold(n, gres.of_job(job), -1)
            n.jobs.discard(job.id)
        self.lent.discard(job.id)

    def lend_resources(self, job: Job, *, back: bool) -> None:
        """Suspend (back=False) or resume: CPUs and GPUs are lent; memory stays held."""
        if back != (job.id in self.lent):
            return  # already so
        sign = 1 if back else -1
        if back:
            self.lent.discard(job.id)
        else:
            self.lent.add(job.id)
        for name in job.nodes:
            n = self.nodes.get(name)
            if n is not None and job.id in n.jobs:
                n.cpus_used += sign * (n.cpus if job.spec.exclusive else job.spec.cpus_per_node)
                n.gpus_used += sign * job.spec.gpus_per_node
                ids = set(job.gpu_ids.get(name, ()))
                n.gpu_ids_used = n.gpu_ids_used | ids if back else n.gpu_ids_used - ids
                cpu_ids = job.cpu_ids.get(name)
                if cpu_ids and back:
                    n.cpus_held[job.id] = cpu_ids
                else:
                    n.cpus_held.pop(job.id, None)


    # ---- jobs: writes ------------------------------------------------------
    async def submit(self, caller: Caller, spec: JobSpec, user: str | None = None, *,
                     key: SubmitKey | None = None) -> list[int]:
        """Queue a job (or every task of an array); returns the new ids once durable.
        With `key` (services/idempotency.py), it is stored in the same transaction,
        which first looks for an earlier submission with that key: if there is one,
        nothing is queued and AlreadySubmitted (services/runtime.py) says what it made.
        The submit command (services/submission.py) decides; this gathers what it
        reads from the store first, and runs what it decided."""
        if spec.dependency:  # the named jobs that are no longer in memory
            await self.deps.load_targets(spec.dependency)
        t_submit = time.time()
        sub = submission.submit(self.state, self.rules, caller,
                                submission.Submission(spec, user), t_submit, self.submit_site)

        def record(conn: Connection, first: int, tasks: int) -> None:
            if key is not None:  # in the same transaction (services/idempotency.py)
                store_submit_keys.record_key(conn, caller.uid, key.key, first, tasks,
                                             key.digest, t_submit)

        def earlier(conn: Connection) -> tuple[str, list[int]] | None:
            assert key is not None  # what the key made before (AlreadySubmitted)
            return store_submit_keys.lookup_key(conn, caller.uid, key.key)

        ids = await self.run_submit(sub, then=record if key is not None else None,
                                    earlier=earlier if key is not None else None)
        if sub.job.spec.credential:  # (now that the job is queued) renewed when due
            self.credentials.renew_soon(sub.owner.uid)
        self.counters["jobs_submitted"] += len(ids)
        log.info("job %d submitted by %s to %s%s", ids[0], sub.owner.user,
                 sub.job.partition, f" ({len(ids)} tasks)" if sub.tasks else "",
                 extra={"job_id": ids[0]})
        if sub.job.state == JobState.PENDING:  # a held job waits for its release's pass
            self.kick()
        return ids

    async def submit_all(self, caller: Caller, reqs: Sequence[submission.Submission]
                         ) -> list[list[int] | CorralError]:
        """Queue many submissions of one caller at once (a batch request's items
        without an idempotency key): each is decided as `submit` decides one, the
        plain jobs accepted are inserted together (one statement a table, the same
        group commit), then applied; one log line per owner and partition, one
        scheduling pass asked for. Per submission, in order: its new ids once durable,
        or why it was refused."""
        for req in reqs:
            if req.spec.dependency:  # the named jobs that are no longer in memory
                await self.deps.load_targets(req.spec.dependency)
        t_submit = time.time()
        out: list[list[int] | CorralError] = [[] for _ in reqs]
        plain: list[tuple[int, submission.Submitted]] = []
        arrays: list[tuple[int, submission.Submitted]] = []
        for i, req in enumerate(reqs):
            try:
                sub = submission.submit(self.state, self.rules, caller, req, t_submit,
                                        self.submit_site)
            except CorralError as e:
                out[i] = e
                continue
            (arrays if sub.tasks else plain).append((i, sub))
        runs = [self.run_submits([sub for _, sub in plain])] if plain else []
        runs += [self.run_submit(sub) for _, sub in arrays]
        done = await asyncio.gather(*runs)
        if plain:
            for (i, _), job_id in zip(plain, done[0], strict=True):
                out[i] = [job_id]
        for (i, _), ids in zip(arrays, done[1:] if plain else done, strict=True):
            out[i] = ids
        made = plain + arrays
        for _, sub in made:
            if sub.job.spec.credential:  # (now that the job is queued) renewed when due
                self.credentials.renew_soon(sub.owner.uid)
        self._log_submitted([(sub, out[i]) for i, sub in made])
        if any(sub.job.state == JobState.PENDING for _, sub in made):
            self.kick()
        return out

    def _log_submitted(self, made: Sequence[tuple[submission.Submitted, Any]]) -> None:
        """One line per owner and partition for the jobs of a batch."""
        groups: dict[tuple[str, str], list[int]] = {}
        for sub, ids in made:
            groups.setdefault((sub.owner.user, sub.job.partition), []).extend(ids)
        for (user, partition), ids in groups.items():
            self.counters["jobs_submitted"] += len(ids)
            log.info("jobs %s submitted by %s to %s (%d jobs)", id_ranges(ids), user,
                     partition, len(ids), extra={"job_id": ids[0]})

    def _submit_site(self) -> submission.SubmitSite:
        """What the submit command reads besides the state (services/submission.py):
        live views of the nodes, the associations, the credentials, the dependencies."""
        return submission.SubmitSite(
            cfg=self.cfg, nodes=self.nodes.values(), roles=self.roles,
            submit_filter=self.submit_filter.apply, admit=self.assoc.admit,
            check_qos=self.assoc.check_qos, has_credential=self.credentials.holds,
            dependency_target=self.deps.known)

    # ---- jobs: reads (what each caller may see: services/access.py) ---------------
    def list_jobs(self, caller: Caller, *, users: Iterable[str] = (),
                  states: Iterable[str] = (), partitions: Iterable[str] = (),
                  ids: Iterable[int] = (), names: Iterable[str] = (),
                  arrays: Iterable[int] = ()) -> list[Job]:
        us, ss, ps, ii, nn = set(users), set(states), set(partitions), set(ids), set(names)
        aa = set(arrays)
        if not (us or ss or ps or ii or nn or aa) and self.access.sees_all(caller):
            return self.jobs.ordered()
        out = []
        for j in self.jobs.values():
            if (us and j.user not in us) or (ss and str(j.state) not in ss) \
                    or (ps and j.partition not in ps) or (ii and j.id not in ii) \
                    or (nn and j.spec.name not in nn) or (aa and j.array_job_id not in aa) \
                    or not self.access.sees(caller, j):
                continue
            out.append(j)
        out.sort(key=lambda j: j.id)
        return out

    def list_rests(self, caller: Caller, *, users: Iterable[str] = (),
                   states: Iterable[str] = (), partitions: Iterable[str] = (),
                   ids: Iterable[int] = (), names: Iterable[str] = (),
                   arrays: Iterable[int] = ()) -> list[ArrayRest]:
        """The pending rests of arrays (one entry each) that match the filters."""
        return [r for r in self.arrays.listed(
            users=set(users), states=set(states), partitions=set(partitions), ids=set(ids),
            names=set(names), arrays=set(arrays)) if self.access.sees(caller, r.template)]

    async def get_job(self, job_id: int) -> Job:
        job = self.jobs.get(job_id) or self.arrays.view(job_id)
        if job is not None:
            return job
        found: Job | None = await self.writer.read(
            lambda c: store_jobs.get_job(c, job_id) or store_arrays.rest_task(c, job_id))
        if found is None:
            raise NotFound(f"job {job_id}: no such job")
        return found

    async def read_job(self, caller: Caller, job_id: int) -> Job:
        """A job the caller may see (queue first, then the store)."""
        job = await self.get_job(job_id)
        self.access.check_sees(caller, job)
        return job

    async def history(self, caller: Caller, **filters: Any) -> list[Job]:
        if not self.access.sees_all(caller):  # only their own: filter in the query
            users = filters.get("users")
            filters["users"] = [u for u in users if u == caller.user] if users \
                else [caller.user]
        result: list[Job] = await self.writer.read(
            lambda c: store_jobs.query_jobs(c, **filters))
        return [j for j in result if self.access.sees(caller, j)]

    async def events(self, job_id: int) -> list[Event]:
        await self.get_job(job_id)
        result: list[Event] = await self.writer.read(
            lambda c: store_events.job_events(c, job_id))
        return result

    async def read_events(self, caller: Caller, job_id: int) -> list[dict[str, Any]]:
        """A job's event log as the caller may read it."""
        job = await self.read_job(caller, job_id)
        return [self.access.event_dict(caller, job, e) for e in await self.events(job_id)]

    async def wait_final(self, caller: Caller, job_id: int, timeout_s: float) -> Job:
        deadline = time.monotonic() + timeout_s
        while True:
            job = await self.read_job(caller, job_id)
            left = deadline - time.monotonic()
            if job.state.is_final or left <= 0:
                return job
            async with self._finished:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._finished.wait(), timeout=min(left, 5.0))

    # ---- housekeeping ----------------------------------------------------------
    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.time()
            keep = self.cfg.controller.keep_finished_s
            ended = [self.jobs[i] for s in JobState if s.is_final
                     for i in self.jobs.by_state[s]]
            for j in [j for j in ended if j.t_end is not None and now - j.t_end > keep]:
                self.deps.forget(j)
                del self.jobs[j.id]
            self._warn_before_limit(now)
            timeout = self.cfg.controller.node_timeout_s
            for n in self.nodes.values():
                if n.reachable and now - n.t_last_seen > timeout:
                    log.warning("node %s: not heard from for %.0f s; it is DOWN", n.name,
                                now - n.t_last_seen)
                    n.reachable = False
            await expire(self)

    def _warn_before_limit(self, now: float) -> None:
        """--signal: send the warning signal when a job nears its time limit."""
        for i in self.jobs.ids_in(*(s for s in JobState if s.is_active)):
            j = self.jobs[i]
            if (j.spec.signal and j.t_signalled is None and j.state.is_active
                    and j.t_start is not None and j.time_limit_s):
                sig = parse_signal_spec(j.spec.signal)
                if now >= j.t_start + j.time_limit_s - sig.before_s:
                    j.t_signalled = now
                    # B: the batch script's own process; else, as Slurm, its steps
                    target = "main" if sig.main_only else "steps"
                    for node in j.nodes:
                        self.orders.push(node, {"kind": "signal", "job_id": j.id,
                                                "signal": sig.signum, "target": target})


def id_ranges(ids: Iterable[int]) -> str:
    """Job ids as runs: `5-9,12`."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(ids):
        if run and i == run[1] + 1:
            run[1] = i
            continue
        if run:
            out.append(str(run[0]) if run[0] == run[1] else f"{run[0]}-{run[1]}")
        run = [i, i]
    if run:
        out.append(str(run[0]) if run[0] == run[1] else f"{run[0]}-{run[1]}")
    return ",".join(out)


def _load_state(conn: Connection, since_t_end: float) -> tuple[list[Job], list[Node]]:
    return (store_jobs.load_jobs(conn, since_t_end=since_t_end), store_nodes.load_nodes(conn))
