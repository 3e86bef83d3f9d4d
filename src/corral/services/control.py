"""Job and node control: cancel, hold, release, requeue, update, preempt, drain.

A mixin of the Controller (services/controller.py), which owns the state and the
writer; these are the use cases that change a job or a node after submit.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral.config import Config
from corral.model.errors import Conflict, InvalidRequest, NotFound
from corral.model.event import EventKind
from corral.model.job import Job, JobSpec
from corral.model.node import Node
from corral.model.states import JobState
from corral.services import commands
from corral.services.access import Access
from corral.services.authz import Action
from corral.services.identity import Caller
from corral.services.jobtable import JobTable
from corral.services.orders import OrderBook
from corral.services.runs import run_lost
from corral.services.state import ClusterState
from corral.services.submit import Resolved, resolve
from corral.store import events as store_events
from corral.store import jobs as store_jobs
from corral.store import nodes as store_nodes

if TYPE_CHECKING:
    from corral.services.arrays import Arrays
    from corral.services.assoc import Associations
    from corral.services.writer import Writer

UPDATABLE_FIELDS = commands.UPDATABLE_FIELDS


class JobControl:
    cfg: Config
    jobs: JobTable
    nodes: dict[str, Node]
    orders: OrderBook
    writer: Writer
    access: Access
    assoc: Associations
    suspended_for: dict[int, int | None]  # suspended job -> the job it made room for
    end_codes: dict[int, int]  # allocations ended by their client -> its exit code
    arrays: Arrays
    node_boot: dict[str, str]  # node -> its agent's boot id
    node_address: dict[str, str]  # node -> where its clients listen (step I/O)

    if TYPE_CHECKING:  # provided by the Controller
        async def persist(self, op: Callable[[Connection], Any]) -> Any: ...
        def change(self, job: Job, new: JobState, *, kind: EventKind = ...,
                   data: dict[str, Any] | None = ...) -> Callable[[Connection], Any]: ...
        def record(self, job: Job, kind: EventKind, *, from_state: str | None = ...,
                   to_state: str | None = ..., data: dict[str, Any] | None = ...
                   ) -> Callable[[Connection], Any]: ...
        async def notify_finished(self) -> None: ...
        async def run_command(self, out: commands.Outcome) -> str: ...
        def apply_outcome(self, out: commands.Outcome) -> list[Callable[[Connection], Any]]: ...
        def send_orders(self, out: commands.Outcome) -> None: ...
        state: ClusterState
        rules: commands.Rules
        def kick(self) -> None: ...
        def release_resources(self, job: Job) -> None: ...
        def lend_resources(self, job: Job, *, back: bool) -> None: ...

    def own_job(self, caller: Caller, job_id: int, action: Action) -> Job:
        """A job of the queue the caller may act on this way (services/authz.py)."""
        job = self.jobs.get(job_id) or self.arrays.view(job_id)
        if job is None:
            raise NotFound(f"job {job_id}: no such job in the queue")
        self.access.check_acts_on(caller, job, action)
        if job_id not in self.jobs:  # a task of an array's pending rest: now on its own
            job = self.arrays.detach(job_id) or job
        return job

    async def cancel(self, caller: Caller, job_id: int, signal: int | None = None,
                     target: str = "all", step_id: int | None = None) -> str:
        """Cancel a job, or with `signal` send it one: to all its processes, its batch
        script's process group ("batch") or its steps only ("steps")."""
        job = self.own_job(caller, job_id, Action.CANCEL if signal is None else Action.SIGNAL)
        now = time.time()
        if signal is not None and job.state.is_active:
            return await self.run_command(commands.signal(
                self.state, self.rules, caller, job.id, signal, now, target=target,
                step_id=step_id))
        was_waiting = job.state.is_waiting
        answer = await self.run_command(commands.cancel(self.state, self.rules, caller,
                                                        job.id, now))
        if was_waiting:
            await self.notify_finished()
            self.kick()
        return answer

    async def end_allocation(self, caller: Caller, job_id: int, exit_code: int) -> str:
        """The client of an allocation (salloc) is done: the job ends COMPLETED, or
        FAILED with the client's exit code; a still-pending one is cancelled."""
        job = self.own_job(caller, job_id, Action.STEP)
        if not job.spec.interactive:
            raise Conflict(f"job {job_id}: is a batch job; only allocations are ended "
                           "by their client (cancel it instead)")
        if job.state.is_final or job.state == JobState.COMPLETING:
            return str(job.state)
        if not job.state.is_active:
            return await self.cancel(caller, job_id)
        out = commands.end_allocation(self.state, self.rules, caller, job.id, exit_code,
                                      time.time())
        if out.events:  # its agents' report ends it with the client's code
            self.end_codes[job.id] = exit_code
        return await self.run_command(out)

    async def preempt(self, job_ids: Iterable[int], preemptor: int | None = None) -> None:
        """Stop running jobs for a higher-tier or higher-QOS one: suspend, requeue or
        cancel, as the victim's partition (or, preempted through its QOS, that QOS)
        says (services/commands.py's preempt decides)."""
        for job_id in job_ids:
            out = commands.preempt(self.state, self.rules, job_id, preemptor, time.time())
            if not out.events:
                continue
            if out.events[0].to_state == JobState.SUSPENDED:  # its CPUs and GPUs lent
                self.suspended_for[job_id] = preemptor
                self.lend_resources(self.jobs[job_id], back=False)
            await self.run_command(out)

    async def resume_suspended(self) -> None:
        """Wake suspended jobs whose preemptor is gone, when their CPUs are free."""
        for job_id, preemptor in list(self.suspended_for.items()):
            job = self.jobs.get(job_id)
            if job is None or job.state != JobState.SUSPENDED:
                self.suspended_for.pop(job_id, None)
                continue
            out = commands.resume(self.state, job_id, preemptor, time.time())
            if not out.events or not all(self._room_for(job, name) for name in job.nodes):
                continue
            self.suspended_for.pop(job_id, None)
            self.lend_resources(job, back=True)
            await self.run_command(out)

    def _room_for(self, job: Job, name: str) -> bool:
        n = self.nodes.get(name)  # memory: a suspended job keeps holding its own
        return n is not None and n.has_room(
            cpus=n.cpus if job.spec.exclusive else job.spec.cpus_per_node,
            gpus=job.spec.gpus_per_node)

    async def hold(self, caller: Caller, job_id: int) -> None:
        job = self.own_job(caller, job_id, Action.HOLD)
        await self.run_command(commands.hold(self.state, self.rules, caller, job.id,
                                             time.time()))

    async def release(self, caller: Caller, job_id: int) -> None:
        job = self.own_job(caller, job_id, Action.RELEASE)
        await self.run_command(commands.release(self.state, self.rules, caller, job.id,
                                                time.time()))
        self.kick()

    async def requeue(self, caller: Caller, job_id: int, *, hold: bool = False) -> None:
        job = self.jobs.get(job_id)
        if job is None:
            job = await self.writer.read(lambda c: store_jobs.get_job(c, job_id))
            if job is None:
                raise NotFound(f"job {job_id}: no such job")
            self.jobs[job_id] = job
        job = self.own_job(caller, job_id, Action.REQUEUE)
        out = commands.requeue(self.state, self.rules, caller, job.id, time.time(), hold=hold)
        if job.state.is_final:  # what its last run held goes (done at its end already)
            self.release_resources(job)
            job.t_signalled = None
        await self.run_command(out)
        if job.state.is_waiting:
            self.kick()

    async def update(self, caller: Caller, job_id: int, fields: dict[str, Any]) -> Job:
        job = self.own_job(caller, job_id, Action.UPDATE)
        await self.run_command(commands.update(self.state, self.rules, caller, job.id, fields,
                                               time.time(), self.resolver(caller, fields)))
        self.kick()
        return job

    def resolver(self, caller: Caller, fields: Mapping[str, Any]) -> commands.Resolver:
        """How a changed spec is resolved: the site's partitions and nodes, and the
        owner's associations when the account, CPUs or time limit change."""
        def resolved(job: Job, spec: JobSpec) -> Resolved:
            res = resolve(spec, self.cfg, self.nodes.values())
            if {"account", "cpus_per_node", "time_limit_s"} & set(fields):
                res = self.assoc.admit(caller, job.user, res)  # the owner's associations
            return res
        return resolved

    # ---- nodes ----------------------------------------------------------------
    async def set_drain(self, caller: Caller, name: str, drain: bool, reason: str = "") -> Node:
        """Drain a node (no new jobs; running ones finish) or return it to service."""
        self.access.check_cluster(caller, Action.DRAIN if drain else Action.RESUME,
                                  f"{'drain' if drain else 'resume'} node {name}")
        node = self.nodes.get(name)
        if node is None:
            raise NotFound(f"node {name!r}: no such node")
        if drain and not reason:
            raise InvalidRequest("reason: draining a node needs a reason")
        node.drain = drain
        node.drain_reason = reason if drain else ""
        node.drain_by = "admin" if drain else ""
        copy = dataclasses.replace(node, jobs=set(node.jobs))

        def op(conn: Connection) -> None:
            store_nodes.upsert_node(conn, copy)
            store_events.append_event(conn, None, time.time(), EventKind.NODE,
                                      data={"node": name, "drain": drain, "reason": reason,
                                            "by": caller.user})
        await self.persist(op)
        self.kick()
        return node

    async def delete_node(self, caller: Caller, name: str) -> None:
        """Forget a node (administrators). Refused while it runs jobs, unless it is down:
        then they are lost with it (a counted retry if they may have one, else NODE_FAIL;
        services/retries.py). An agent
        that registers under the name again brings the node back."""
        self.access.check_cluster(caller, Action.DELETE_NODE, f"delete node {name}")
        node = self.nodes.get(name)
        if node is None:
            raise NotFound(f"node {name!r}: no such node")
        held = sorted(node.jobs)
        if held and node.reachable:
            shown = ", ".join(str(j) for j in held[:10]) + (", ..." if len(held) > 10 else "")
            raise Conflict(f"node {name}: runs job(s) {shown}; drain it and let them end "
                           "(or cancel them), or delete it once it is down")
        ops: list[Callable[[Connection], Any]] = []
        lost: list[commands.Outcome] = []
        why = f"node {name} deleted by {caller.user}"
        for job_id in held:  # its processes on the job's other nodes end too
            out = run_lost(self.state, self.rules, job_id, why, time.time(),
                           kill_elsewhere=name)
            ops.extend(self.apply_outcome(out))
            lost.append(out)
        del self.nodes[name]
        self.node_boot.pop(name, None)
        self.node_address.pop(name, None)
        self.orders.drop(name)

        def op(conn: Connection) -> None:
            for job_op in ops:
                job_op(conn)
            store_nodes.delete_node(conn, name)
            store_events.append_event(conn, None, time.time(), EventKind.NODE,
                                      data={"node": name, "deleted": True, "by": caller.user})
        await self.persist(op)
        for out in lost:
            self.send_orders(out)
        if ops:
            await self.notify_finished()
        self.kick()

