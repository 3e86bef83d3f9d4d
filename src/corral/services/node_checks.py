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

from corral.model.event import EventKind
from corral.model.node import Node
from corral.store import events as store_events
from corral.store import nodes as store_nodes

if TYPE_CHECKING:
    from corral.services.controller import Controller

log = logging.getLogger("corral.agents")

HEALTH = "health"
CHECKS = (HEALTH, "prolog", "epilog")  # drains of the node's own checks (else: "admin")
MAX_REASON_CHARS = 1000


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
    log.warning("node %s: drained (%s): %s", node.name, by, reason)
    return _set(node, True, by, reason)


def health_result(node: Node, ok: bool, message: str) -> Callable[[Connection], Any] | None:
    """The health check's latest verdict on its node. None: nothing changes."""
    if ok:
        if node.drain and node.drain_by == HEALTH:
            log.info("node %s: health check passes; resumed", node.name)
            return _set(node, False, HEALTH, "")
        return None
    if node.drain and (node.drain_by != HEALTH or node.drain_reason == message):
        return None  # drained already: by someone else, or for this same reason
    log.warning("node %s: health check fails; drained: %s", node.name, message)
    return _set(node, True, HEALTH, message)


async def apply(ctl: Controller, op: Callable[[Connection], Any] | None) -> None:
    if op is not None:
        await ctl.persist(op)
        ctl.kick()
