"""Per-node order queues for the agents' long-polls (docs/specs/02-agent-protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class OrderBook:
    def __init__(self) -> None:
        self._orders: dict[str, list[dict[str, Any]]] = {}
        self._events: dict[str, asyncio.Event] = {}

    def _event(self, node: str) -> asyncio.Event:
        ev = self._events.get(node)
        if ev is None:
            ev = self._events[node] = asyncio.Event()
        return ev

    def push(self, node: str, order: dict[str, Any]) -> None:
        self._orders.setdefault(node, []).append(order)
        self._event(node).set()

    def queued(self, node: str) -> list[dict[str, Any]]:
        """The orders waiting for the node's next poll (a copy)."""
        return list(self._orders.get(node, []))

    def take(self, node: str) -> list[dict[str, Any]]:
        out = self._orders.pop(node, [])
        self._event(node).clear()
        return out

    async def wait(self, node: str, timeout_s: float) -> list[dict[str, Any]]:
        """Orders for the node, waiting up to timeout_s for the first one."""
        if not self._orders.get(node):
            ev = self._event(node)
            ev.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ev.wait(), timeout=max(0.0, timeout_s))
        return self.take(node)

    def wake_all(self) -> None:
        """End every long-poll now (shutdown): each answers with what it has."""
        for ev in self._events.values():
            ev.set()

    def drop(self, node: str) -> None:
        self._orders.pop(node, None)
