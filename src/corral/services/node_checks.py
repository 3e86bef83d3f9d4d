"""What a node's own checks do to it (docs/specs/02-agent-protocol.md §6).

The site's health check drains its node when it fails and resumes it when it passes
again, but only if the health check drained it: a node an administrator drained stays
drained. A failing prolog or epilog drains the node too (only an administrator
resumes it). Each change is a `node` event in the log.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral.logs import log_ids
from corral.model.event import EventKind
from corral.model.job import Job
from corral.model.node import Node
from corral.store import events as store_events
from corral.store import nodes as store_nodes

if TYPE_CHECKING:
    from corral.config import Config
    from corral.services.controller import Controller

log = logging.getLogger("corral.agents")

HEALTH = "health"
CHECKS = (HEALTH, "prolog", "epilog")  # drains of the node's own checks (else: "admin")
MAX_REASON_CHARS = 1000
PENDING_REASON = "waiting for its first health check"


def _set(node: Node, drain: bool, by: str, reason: str) -> Callable[[Connection], Any]:
    node.drain, node.drain_by = drain, by if drain else ""
    node.drain_reason = reason[:MAX_REASON_CHARS] if drain else ""
    copy = dataclasses.replace(node, jobs=set(node.jobs))
    t = time.time()

    def op(conn: Connection) -> None:
        store_nodes.upsert_node(conn, copy)
        store_events.append_event(conn, None, t, EventKind.NODE,
                                  data={"node": copy.name, "drain": drain,
                                        "reason": copy.drain_reason, "by": by})
    return op


def drain_for_check(node: Node, by: str, reason: str) -> Callable[[Connection], Any] | None:
    """A prolog or epilog failed here: drain the node, unless an administrator has
    drained it already (their reason stays). None: nothing changes."""
    if node.drain and (node.drain_by not in CHECKS or node.drain_reason == reason):
        return None
    log.warning("node %s: drained (%s): %s", node.name, by, reason, extra=log_ids(node=node.name))
    return _set(node, True, by, reason)


def health_result(node: Node, ok: bool, message: str) -> Callable[[Connection], Any] | None:
    """The health check's latest verdict on its node. None: nothing changes."""
    if ok:
        if node.drain and node.drain_by == HEALTH:
            log.info("node %s: health check passes; resumed", node.name,
                     extra=log_ids(node=node.name))
            return _set(node, False, HEALTH, "")
        return None
    if node.drain and (node.drain_by != HEALTH or node.drain_reason == message):
        return None  # drained already: by someone else, or for this same reason
    log.warning("node %s: health check fails; drained: %s", node.name, message,
                extra=log_ids(node=node.name))
    return _set(node, True, HEALTH, message)


def registered(cfg: Config, node: Node,
               verdict: dict[str, Any] | None) -> Callable[[Connection], Any] | None:
    """An agent has registered, with its health check's latest verdict if it has one.
    A node whose check has not run yet takes no job until it has (Slurm runs its
    health check before slurmd registers); a node the health check drained is resumed
    if the site has no health check any more."""
    if not cfg.agent.health_check_program:
        return health_result(node, True, "")
    if verdict is not None:
        return health_result(node, bool(verdict["ok"]), str(verdict.get("message", "")))
    if node.drain:
        return None
    return _set(node, True, HEALTH, PENDING_REASON)


async def apply(ctl: Controller, op: Callable[[Connection], Any] | None) -> None:
    if op is not None:
        await ctl.persist(op)
        ctl.kick()


# ---- a job's other nodes (not its batch node) --------------------------------------
PASSED_ON = ("SLURM_JOB_PARTITION", "SLURM_JOB_ACCOUNT")


def job_facts(job: Job) -> dict[str, Any]:
    """What a prolog or epilog on one of the job's other nodes sees of it."""
    env = {k: v for k, v in job.spec.environment.items() if k in PASSED_ON}
    if job.array_job_id is not None:
        env["SLURM_ARRAY_JOB_ID"] = str(job.array_job_id)
        env["SLURM_ARRAY_TASK_ID"] = str(job.array_task_id)
    return {"job_id": job.id, "name": job.spec.name, "user": job.user, "uid": job.uid,
            "gid": job.gid, "working_dir": job.spec.working_dir,
            "node_list": list(job.nodes), "run": job.restarts, "environment": env}


def _push_to_others(ctl: Controller, job: Job, kind: str) -> None:
    agent = ctl.cfg.agent
    if len(job.nodes) > 1 and (agent.prolog or agent.epilog):
        facts = job_facts(job)
        for name in job.nodes[1:]:
            ctl.orders.push(name, {"kind": kind, "job_id": job.id, "job": facts})


def job_started(ctl: Controller, job: Job) -> None:
    """The prolog on each of a starting job's other nodes (its batch node runs its own
    before the job). A step waits there until it has passed."""
    _push_to_others(ctl, job, "prolog")


def job_left(ctl: Controller, job: Job) -> None:
    """The epilog on each of the job's other nodes, when it has left them (ended or
    requeued)."""
    if job.state.is_active:
        _push_to_others(ctl, job, "epilog")

