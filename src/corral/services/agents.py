"""The controller's side of the agent protocol (docs/specs/02-agent-protocol.md)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from corral.config import Config
from corral.logs import log_ids
from corral.model.agent_messages import (
    AgentCheck,
    AgentHealth,
    AgentJobReport,
    AgentLeave,
    AgentPoll,
    AgentRegister,
    AgentReport,
    AgentRunning,
)
from corral.model.bounds import check_node
from corral.model.errors import Conflict, InvalidRequest, PermissionDenied
from corral.model.event import EventKind
from corral.model.intent import StopIntent
from corral.model.job import Job
from corral.model.node import Node
from corral.model.states import JobState
from corral.model.topology import Topology
from corral.services import node_checks, runs
from corral.services.commands import Outcome
from corral.services.controller import Controller
from corral.services.gres import node_gres
from corral.services.launch import launch_order
from corral.services.leases import heartbeat_s, lose_job
from corral.services.sites import SiteThroughput
from corral.store import events as store_events
from corral.store import nodes as store_nodes

log = logging.getLogger("corral.agents")



# How often a launch order that its node shows no sign of having had is sent again
# before the job is treated as lost there.
LAUNCH_RESENDS = 2
MAX_LEFT = 10_000  # boot ids of agents that left, remembered


@dataclass
class LaunchMark:
    """A launch order handed to a node's poll: which poll saw it leave."""

    after_poll: int | None  # the node's poll count when the order left (None: queued)
    resends: int = 0


def gpu_domains(cfg: Config, node: str, gpus: int, reported: list[int]) -> tuple[int, ...]:
    """Each GPU's NUMA domain: as the agent read it, else as configured; () when
    neither names one domain per GPU."""
    if reported and len(reported) == gpus:
        return tuple(reported)
    conf = next((n.gpu_numa for n in cfg.nodes if n.name == node), [])
    return tuple(conf) if len(conf) == gpus else ()


class AgentService:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self._polls: dict[str, int] = {}  # polls arrived, per node
        # per node, by job id: launch orders until the node shows their job
        self._launches: dict[str, dict[int, LaunchMark]] = {}
        self._prolog_failed: dict[int, str] = {}  # job -> why it is killed for a retry
        self.site_ends = SiteThroughput()  # jobs ended per site (services/sites.py)
        self._left: dict[str, None] = {}  # boot ids of pilots that left (the newest)

    def _node(self, name: str, boot_id: str) -> Node:
        node = self.ctl.nodes.get(name)
        if node is None or self.ctl.node_boot.get(name) != boot_id:
            raise Conflict("register first")
        self.ctl.leases.heard(name)
        node.t_last_seen = time.time()
        if not node.reachable:
            node.reachable = True
            self.ctl.kick()
        return node

    async def register(self, msg: AgentRegister) -> dict[str, Any]:
        ctl = self.ctl
        name = msg.node
        if msg.boot_id and msg.boot_id in self._left:  # its last poll crossed its leave
            raise PermissionDenied(f"node {name}: this agent has left; a new one "
                                   "registers with a boot id of its own")
        check_node(name, msg.cpus, msg.mem_mb, msg.gpus, msg.features)
        now = time.time()
        node = ctl.nodes.get(name)
        if node is None:
            node = Node(name=name, cpus=1, mem_mb=1)
            ctl.nodes[name] = node
        node.cpus = msg.cpus
        node.mem_mb = msg.mem_mb
        node.gpus = msg.gpus
        node.features = tuple(msg.features)
        node.topology = msg.topology.model_dump(exclude={"layout"}) if msg.topology else None
        node.cpu_layout = (Topology.from_layout(msg.topology.layout, msg.topology.type_source)
                           if msg.topology is not None and msg.topology.layout else None)
        node.gres = node_gres(ctl.cfg).get(name, {})
        node.gpu_numa = gpu_domains(ctl.cfg, name, msg.gpus,
                                    msg.topology.gpu_numa if msg.topology else [])
        node.site = msg.site or ""
        node.t_deadline = msg.deadline
        node.batch_job = msg.batch_job
        node.t_last_seen = now
        ctl.leases.heard(name)
        boot = msg.boot_id
        # the same agent process as before: it keeps every order it took, so a job
        # of its that it neither runs nor reports never reached it
        same_agent = bool(boot) and ctl.last_boot.get(name) == boot
        ctl.node_boot[name] = ctl.last_boot[name] = boot
        if msg.address:
            ctl.node_address[name] = msg.address
        ctl.orders.drop(name)  # orders for a previous incarnation are void
        self._launches.pop(name, None)
        copy = Node(name=node.name, cpus=node.cpus, mem_mb=node.mem_mb, gpus=node.gpus,
                    features=node.features, drain=node.drain, drain_reason=node.drain_reason,
                    drain_by=node.drain_by, t_last_seen=now)
        def store_node(conn: Connection) -> None:
            store_nodes.upsert_node(conn, copy)
            store_nodes.set_boot_id(conn, name, boot)
        await ctl.persist(store_node)
        await node_checks.apply(ctl, node_checks.registered(
            ctl.cfg, node, msg.health.model_dump() if msg.health else None))

        await self._apply_reports(name, msg.finished)
        # job id -> run (-1: an agent that does not say which run)
        running = {r.job_id: _run(r) for r in msg.running}
        relaunch: list[Job] = []
        for job in list(ctl.jobs.values()):
            if job.state.is_active and job.nodes[:1] == (name,) \
                    and running.get(job.id, job.restarts) not in (job.restarts, -1):
                running.pop(job.id)  # an earlier run: cancelled below, this one is lost
            if job.state.is_active and job.nodes[:1] == (name,) and job.id not in running:
                if same_agent and job.state == JobState.RUNNING:
                    # its launch order was lost with the controller before the agent
                    # took it: this run has not begun, so it begins now
                    log.warning("job %d: node %s never had its launch order; sending it",
                                job.id, name, extra=log_ids(job_id=job.id, node=name))
                    relaunch.append(job)
                    continue
                log.warning("job %d: node %s no longer runs it; NODE_FAIL", job.id, name,
                            extra=log_ids(job_id=job.id, node=name))
                await self._lost(job.id, f"node {name} re-registered without it")
        for job in relaunch:
            ctl.orders.push(name, launch_order(ctl.cfg, job, ctl.nodes))
        for r in msg.running:
            job_id, run = r.job_id, _run(r)
            known = ctl.jobs.get(job_id)
            if (known is None or not known.state.is_active or name not in known.nodes
                    or known.state == JobState.COMPLETING
                    or run not in (known.restarts, -1)):
                ctl.orders.push(name, {"kind": "cancel", "job_id": job_id, "signal": 15,
                                       "grace_s": ctl.cfg.controller.kill_grace_s,
                                       **({"run": run} if run >= 0 else {})})
        node.reachable = True
        ctl.kick()
        log.info("node %s registered: %d CPUs, %d MB, %d GPUs, %d running", name, node.cpus,
                 node.mem_mb, node.gpus, len(running), extra=log_ids(node=name))
        lease_s = ctl.cfg.controller.node_lease_s
        return {"heartbeat_s": heartbeat_s(lease_s), "lease_s": lease_s,
                "agent": ctl.cfg.agent.model_dump(), "epoch": ctl.writer.epoch,
                "orders": self._hand_out(name, ctl.orders.take(name))}

    async def leave(self, msg: AgentLeave) -> dict[str, Any]:
        """A pilot leaves (docs/pilots.md): its node is forgotten, unless a job was
        placed on it meanwhile (409: the pilot runs it and tries again later)."""
        ctl = self.ctl
        name = msg.node
        node = self._node(name, msg.boot_id)
        if msg.ending and not node.drain:  # not a job more (in memory: it goes soon)
            node.drain, node.drain_by = True, "pilot"
            node.drain_reason = msg.why or "its allocation ends"
            log.info("node %s: ending, takes no more jobs: %s", name, node.drain_reason,
                     extra=log_ids(node=name))
        if node.jobs:
            held = ", ".join(str(j) for j in sorted(node.jobs)[:10])
            raise Conflict(f"node {name}: has job(s) {held}; run them first")
        del ctl.nodes[name]
        ctl.node_boot.pop(name, None)
        ctl.node_address.pop(name, None)
        ctl.orders.drop(name)
        ctl.leases.forget(name)
        if msg.boot_id:
            self._left[msg.boot_id] = None
            while len(self._left) > MAX_LEFT:
                del self._left[next(iter(self._left))]
        self._launches.pop(name, None)
        self._polls.pop(name, None)
        log.info("node %s left: %s", name, msg.why or "idle", extra=log_ids(node=name))

        def op(conn: Connection) -> None:
            store_nodes.delete_node(conn, name)
            store_events.append_event(conn, None, time.time(), EventKind.NODE,
                                      data={"node": name, "left": True, "site": node.site,
                                            "why": msg.why})
        await ctl.persist(op)
        ctl.kick()
        return {"ok": True}

    async def poll(self, msg: AgentPoll) -> dict[str, Any]:
        name = msg.node
        boot = msg.boot_id
        self._node(name, boot)
        self._polls[name] = self._polls.get(name, 0) + 1
        running = msg.running
        self._live_usage(name, [*running, *msg.steps_usage])
        unacked = msg.unacknowledged
        if unacked is not None:  # agents that say which reports they still hold
            current = {r.job_id for r in running if self._current(r)}
            await self._check_launches(name, current, set(unacked))
        wait_s = min(msg.wait_s, 60.0)
        orders = await self.ctl.orders.wait(name, wait_s)
        if name in self.ctl.nodes and self.ctl.node_boot.get(name) == boot:
            self.ctl.nodes[name].t_last_seen = time.time()
        return {"orders": self._hand_out(name, orders), "epoch": self.ctl.writer.epoch,
                "lease_s": self.ctl.cfg.controller.node_lease_s}

    def _current(self, r: AgentRunning) -> bool:
        """A `running` entry of the job's current run (or of an agent without runs)."""
        job = self.ctl.jobs.get(r.job_id)
        return job is None or _run(r) in (job.restarts, -1)

    async def health(self, msg: AgentHealth) -> dict[str, Any]:
        """The node's health check has run: drain or resume the node (spec 02 §6)."""
        node = self._node(msg.node, msg.boot_id)
        await node_checks.apply(self.ctl, node_checks.health_result(node, msg.ok, msg.message))
        return {"drain": node.drain, "drain_reason": node.drain_reason}

    async def check(self, msg: AgentCheck) -> dict[str, Any]:
        """A prolog or epilog failed on one of a job's other nodes (spec 02 §6)."""
        node = self._node(msg.node, msg.boot_id)
        kind, job_id, message = msg.kind, msg.job_id, msg.message
        ops = [op for op in [node_checks.drain_for_check(node, kind, f"{message} (job {job_id})")]
               if op is not None]
        out = Outcome()
        if kind == "prolog":
            out = runs.prolog_failed_elsewhere(self.ctl.state, self.ctl.rules, node.name,
                                               job_id, msg.run, message, time.time())
            if out.events:
                self._prolog_failed[job_id] = message
            ops.extend(self.ctl.apply_outcome(out))
        if ops:
            await self.ctl.persist(lambda conn: [op(conn) for op in ops])
            self.ctl.kick()
        self.ctl.send_orders(out)
        return {"drain": node.drain, "drain_reason": node.drain_reason}

    def _hand_out(self, node: str, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Note the launch orders leaving for a node, to check that it had them. Each
        carries the leader's epoch: agents ignore orders of a deposed one."""
        marks = self._launches.setdefault(node, {})
        for o in orders:
            o["epoch"] = self.ctl.writer.epoch
            if o.get("kind") == "launch":
                self.ctl.credentials.attach(o)  # the job's access token, as it is now
                mark = marks.get(int(o["job_id"]))
                marks[int(o["job_id"])] = LaunchMark(self._polls.get(node, 0),
                                                     mark.resends if mark else 0)
        return orders

    async def _check_launches(self, node: str, running: set[int], unacked: set[int]) -> None:
        """A poll sent after a launch order left shows the job running or its report
        held, unless the order was lost on the way (or ignored): send it again, and
        after LAUNCH_RESENDS tries treat the job as lost on that node."""
        ctl = self.ctl
        polls = self._polls[node]
        marks = self._launches.get(node, {})
        for job_id, mark in list(marks.items()):
            if mark.after_poll is None or polls <= mark.after_poll:
                continue
            job = ctl.jobs.get(job_id)
            if (job is None or job.state != JobState.RUNNING or job.nodes[:1] != (node,)
                    or job_id in running or job_id in unacked):
                del marks[job_id]  # it arrived, or it no longer matters
                continue
            if mark.resends < LAUNCH_RESENDS:
                log.warning("job %d: node %s shows no sign of its launch order; sending "
                            "it again", job_id, node, extra=log_ids(job_id=job_id, node=node))
                mark.resends += 1
                mark.after_poll = None
                ctl.orders.push(node, launch_order(ctl.cfg, job, ctl.nodes))
            else:
                del marks[job_id]
                await self._lost(job_id, f"node {node} did not start it after "
                                         f"{LAUNCH_RESENDS + 1} launch orders")

    def _live_usage(self, node: str, running: list[AgentRunning]) -> None:
        """What a running job uses now on this node, as its agent samples it (sstat)."""
        now = time.time()
        for r in running:
            job = self.ctl.jobs.get(r.job_id)
            if job is not None and job.state.is_active and node in job.nodes:
                if job.live_usage is None:
                    job.live_usage = {}
                job.live_usage[node] = {"rss_mb": r.rss_mb, "max_rss_mb": r.max_rss_mb,
                                        "cpu_time_s": r.cpu_time_s, "t": now}
                job.touch()  # its listed view shows the sample

    async def report(self, msg: AgentReport) -> dict[str, Any]:
        name = msg.node
        node = self.ctl.nodes.get(name)
        if node is None:
            raise Conflict("register first")
        self.ctl.leases.heard(name)
        node.t_last_seen = time.time()
        await self._apply_reports(name, msg.reports)
        return {"ok": True}

    async def _apply_reports(self, node: str, reports: list[AgentJobReport]) -> None:
        """The ends of runs on a node, each decided by services/runs.py's handler on
        the state as the reports before it left it, made durable together."""
        ctl = self.ctl
        ops: list[Callable[[Connection], Any]] = []
        orders: list[Outcome] = []
        lost: list[tuple[int, str]] = []
        for r in reports:
            job = runs.reported(ctl.state, node, r)
            if job is None:
                continue  # already final, requeued, or not here: idempotent ack
            if r.lost:  # its node's lease lapsed: killed there, as a lost node's
                if JobState(r.state) not in runs.REPORTABLE:
                    raise InvalidRequest(f"report: state {r.state} cannot end a job")
                lost.append((job.id, f"node {node}: {r.message or 'lease lapsed'}"))
                continue
            now = time.time()
            out = runs.run_ended(ctl.state, ctl.rules, node, r, now,
                                 end_code=ctl.end_codes.get(job.id, 0),
                                 elsewhere=self._prolog_failed.get(job.id, ""))
            ops.extend(self._failed_checks(node, job, r))
            if job.intent == StopIntent.PROLOG_FAILED_ELSEWHERE:
                self._prolog_failed.pop(job.id, None)
            if job.intent == StopIntent.ALLOCATION_ENDED:
                ctl.end_codes.pop(job.id, None)
            where = ctl.nodes.get(node)
            if where is not None and runs.ended_here(out, node):
                self.site_ends.ended(where.site, r.t_end or now)
            ops.extend(ctl.apply_outcome(out))
            orders.append(out)
        if ops:
            await ctl.persist(lambda conn: [op(conn) for op in ops])
            await ctl.notify_finished()
            ctl.kick()
        for out in orders:
            ctl.send_orders(out)
        for job_id, why in lost:
            if await self._lost(job_id, why):
                ctl.kick()

    def _failed_checks(self, node: str, job: Job,
                       r: AgentJobReport) -> list[Callable[[Connection], Any]]:
        """A report of a failed prolog or epilog drains the node it came from."""
        n = self.ctl.nodes.get(node)
        ops = []
        failed = {"prolog": (r.prolog_failed, r.prolog_message),
                  "epilog": (r.epilog_failed, r.epilog_message)}
        for kind, (has_failed, message) in failed.items():
            if n is not None and has_failed:
                why = message or f"{kind} failed"
                op = node_checks.drain_for_check(n, kind, f"{why} (job {job.id})")
                if op is not None:
                    ops.append(op)
        return ops

    async def _lost(self, job_id: int, why: str) -> bool:
        """The job's run died with its node; False: it is no longer running."""
        self._prolog_failed.pop(job_id, None)
        return await lose_job(self.ctl, job_id, why)


def _run(r: AgentRunning) -> int:
    """The run a `running` entry is of (-1: an agent that does not say)."""
    return -1 if r.run is None else r.run
