"""How many pilots a site needs now: pure arithmetic, tested alone."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Plan:
    submit: int  # new pilots to submit
    withdraw: tuple[str, ...]  # batch job ids of pilots still queued there, not needed


def plan(queued_cpus: int, pilot_cpus: int, max_pilots: int, batch: dict[str, str],
         registered: set[str]) -> Plan:
    """`queued_cpus`: what waits for the site (the controller's figure: jobs no pilot
    there could take). `batch`: the factory's pilots the batch system lists (id ->
    "pending" | "running"); `registered`: those of them the controller knows as nodes.

    Pilots not registered yet (queued in the batch system, or starting) will take the
    waiting jobs first; more are submitted for the rest, up to max_pilots in all. With
    nothing waiting, the pilots still queued in the batch system are withdrawn (those
    running leave by themselves once idle)."""
    coming = [i for i in batch if i not in registered]
    if queued_cpus <= 0:
        return Plan(0, tuple(sorted(i for i in coming if batch[i] == "pending")))
    wanted = math.ceil(queued_cpus / pilot_cpus) - len(coming)
    room = max_pilots - len(batch)
    return Plan(max(0, min(wanted, room)), ())
