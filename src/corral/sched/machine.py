"""What a policy needs from the machine it plans on.

Two implementations share this protocol: `CountMachine` (one resource, a
processor count: the fast path of the simulator) and `NodeMachine` (nodes with
CPUs, memory, GPUs and features: the controller). Policies are written once,
against this protocol.
"""

from __future__ import annotations

from typing import Protocol

from corral.sched.request import Req


class Machine(Protocol):
    now: float

    def try_start(self, req: Req) -> tuple[str, ...] | None:
        """Start `req` now if it fits for its whole duration without touching
        any reservation made so far; return the nodes (() for the count machine),
        or None when it does not fit."""

    def reserve(self, req: Req, t_min: float = ...) -> float:
        """Book `req` at the earliest time (not before `t_min`) it fits for its
        whole duration, after everything started or reserved so far; return that
        time (inf: never, and nothing is booked)."""

    def candidates(self, reqs: list[Req]) -> list[Req]:
        """The jobs of `reqs` that might start now (a cheap necessary test, in
        order); the others certainly cannot."""

    def exhausted(self) -> bool:
        """True when no job at all can start now (nothing is free)."""

    def could_ever_fit(self, req: Req) -> bool:
        """Whether the job fits the machine when everything is idle and up."""
