"""Advance reservations and maintenance windows, kept in the store's meta table.

A reservation sets nodes aside over [t_start, t_end): only jobs that name it (and
whose user or account it lists; none listed: anyone) run there then, and such
jobs run only there and then. A maintenance window is a reservation nobody may
use: no job runs into it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral.model.event import Event
from corral.sched.types import ReservationView
from corral.services import commands
from corral.services.commands import Outcome
from corral.services.identity import Caller
from corral.services.state import ClusterState
from corral.services.state import apply as state_apply
from corral.store import events as store_events
from corral.store import meta as store_meta

if TYPE_CHECKING:
    from corral.services.controller import Controller

META_KEY = "reservations"
NOBODY = "-maintenance-"  # a user name no account can have


@dataclass(frozen=True, slots=True)
class Reservation:
    name: str
    nodes: tuple[str, ...]
    t_start: float
    t_end: float
    users: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    maintenance: bool = False

    def view(self) -> ReservationView:
        users = frozenset({NOBODY}) if self.maintenance else frozenset(self.users)
        return ReservationView(name=self.name, nodes=frozenset(self.nodes),
                               t_start=self.t_start, t_end=self.t_end, users=users,
                               accounts=frozenset() if self.maintenance
                               else frozenset(self.accounts))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["nodes"], d["users"], d["accounts"] = list(self.nodes), list(self.users), \
            list(self.accounts)
        return d


def _reservation(d: dict[str, Any]) -> Reservation:
    return Reservation(name=d["name"], nodes=tuple(d["nodes"]), t_start=d["t_start"],
                       t_end=d["t_end"], users=tuple(d["users"]),
                       accounts=tuple(d["accounts"]), maintenance=d["maintenance"])


class Reservations:
    """The runtime of reservation changes: the handlers (services/commands.py) decide,
    their event is applied to the state at once (a change that comes while this one
    is being written sees it), then written."""

    def __init__(self, ctl: Controller, state: ClusterState | None = None) -> None:
        self.ctl = ctl
        self.state = ClusterState() if state is None else state
        self._raw: dict[str, dict[str, Any]] | None = None
        self._items: dict[str, Reservation] = {}

    @property
    def items(self) -> dict[str, Reservation]:
        """The reservations as objects (rebuilt when an applied event replaced them)."""
        raw = self.state.reservations
        if raw is not self._raw:
            self._items = {name: _reservation(d) for name, d in raw.items()}
            self._raw = raw
        return self._items

    def load(self, conn: Connection) -> None:
        raw = store_meta.get_meta(conn, META_KEY)
        self.state.reservations = {d["name"]: _reservation(d).to_dict()
                                   for d in (json.loads(raw) if raw else [])}

    def views(self, now: float) -> tuple[ReservationView, ...]:
        return tuple(r.view() for r in self.items.values() if r.t_end > now)

    def _save_op(self, ev: Event) -> Any:
        text = json.dumps(list(self.state.reservations.values()))

        def op(conn: Connection) -> None:
            store_meta.set_meta(conn, META_KEY, text)
            store_events.append_event(conn, None, ev.t, ev.kind, data=ev.data)
        return op

    async def _run(self, out: Outcome, undo: Callable[[], Event | None]) -> None:
        ev = out.events[0]
        state_apply(self.state, ev)  # refused here if another change came first
        try:
            await self.ctl.persist(self._save_op(ev))
        except Exception:
            back = undo()  # this change only, if nothing changed it since
            if back is not None:
                state_apply(self.state, back)
            raise
        self.ctl.kick()

    async def create(self, caller: Caller, r: Reservation) -> Reservation:
        d = r.to_dict()
        out = commands.create_reservation(self.state, caller, d, time.time(),
                                          frozenset(self.ctl.nodes))

        def undo() -> Event | None:
            if self.state.reservations.get(r.name) != d:
                return None
            return commands.reservation_event(time.time(), {"deleted": r.name})
        await self._run(out, undo)
        return r

    async def delete(self, caller: Caller, name: str) -> None:
        old = self.state.reservations.get(name)
        out = commands.delete_reservation(self.state, caller, name, time.time())

        def undo() -> Event | None:
            if old is None or name in self.state.reservations:
                return None
            return commands.reservation_event(time.time(), {"created": old})
        await self._run(out, undo)
