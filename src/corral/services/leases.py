"""Node leases: when the jobs of a node that is no longer heard from are surely dead.

Every request of an agent (register, poll, report) renews its node's lease; the
agent's job supervisors kill their jobs once `node_lease_s` has passed since the
agent's last request that the controller answered (docs/specs/02-agent-protocol.md
§2.6). So once `node_lease_s + kill_grace_s + LEASE_MARGIN_S` has passed since the
controller last heard from a node, no process of its jobs runs any more: the node is
DOWN and its jobs end NODE_FAIL, or are requeued (a counted retry). A controller that
starts counts every node as heard at its start: it cannot know better.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from corral.logs import log_ids
from corral.services.runs import run_lost

if TYPE_CHECKING:
    from corral.services.controller import Controller

log = logging.getLogger("corral.leases")

# Covers the supervisor's lease check interval (0.5 s) and a loaded machine.
LEASE_MARGIN_S = 2.0
HEARTBEAT_S = 5.0
MIN_HEARTBEAT_S = 0.2


def heartbeat_s(lease_s: float) -> float:
    """How often agents must be heard: well within their lease."""
    return max(MIN_HEARTBEAT_S, min(HEARTBEAT_S, lease_s / 4))


class Leases:
    def __init__(self, lease_s: float, kill_grace_s: float) -> None:
        self.lease_s = lease_s
        self.deadline_s = lease_s + kill_grace_s + LEASE_MARGIN_S
        self._heard: dict[str, float] = {}  # node -> monotonic time last heard
        self._lapsed: set[str] = set()

    def start(self, nodes: Iterable[str]) -> None:
        now = time.monotonic()
        for name in nodes:
            self._heard[name] = now

    def heard(self, node: str) -> None:
        self._heard[node] = time.monotonic()
        self._lapsed.discard(node)

    def forget(self, node: str) -> None:
        """A node that has gone for good (a pilot that left)."""
        self._heard.pop(node, None)
        self._lapsed.discard(node)

    def newly_lapsed(self) -> list[str]:
        """Nodes whose lease ran out since the last call."""
        now = time.monotonic()
        out = [name for name, t in self._heard.items()
               if name not in self._lapsed and now - t > self.deadline_s]
        self._lapsed.update(out)
        return out

    def silent_s(self, node: str) -> float:
        return time.monotonic() - self._heard.get(node, time.monotonic())


async def lose_job(ctl: Controller, job_id: int, why: str) -> bool:
    """The job's run is dead on a lost node: requeued as a retry if it may have one,
    else NODE_FAIL (services/runs.py). False: it was not running any more."""
    out = run_lost(ctl.state, ctl.rules, job_id, why, time.time())
    if not out.events:
        return False
    await ctl.run_command(out)
    await ctl.notify_finished()
    return True


async def expire(ctl: Controller) -> None:
    """End the jobs of the nodes whose lease has lapsed; those nodes are DOWN."""
    for name in ctl.leases.newly_lapsed():
        node = ctl.nodes.get(name)
        if node is not None and node.reachable:
            node.reachable = False
        jobs = [j for j in ctl.jobs.values() if j.state.is_active and j.nodes[:1] == (name,)]
        if not jobs and node is not None and not node.jobs:
            continue
        silent_s = ctl.leases.silent_s(name)
        log.warning("node %s: not heard from for %.1f s, its lease of %.0f s has lapsed: "
                    "%d job(s) lost", name, silent_s, ctl.leases.lease_s, len(jobs),
                    extra=log_ids(node=name))
        for job in jobs:
            await lose_job(ctl, job.id, f"node {name} not heard from for {silent_s:.0f} s "
                                     f"(lease {ctl.leases.lease_s:.0f} s)")
        ctl.orders.drop(name)
        ctl.kick()
