"""Advance reservations and maintenance windows, kept in the store's meta table.

A reservation sets nodes aside over [t_start, t_end): only jobs that name it (and
whose user or account it lists; none listed: anyone) run there then, and such
jobs run only there and then. A maintenance window is a reservation nobody may
use: no job runs into it.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from corral.model.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from corral.model.event import EventKind
from corral.sched.types import ReservationView
from corral.services.authz import Action
from corral.services.identity import Caller
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


class Reservations:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.items: dict[str, Reservation] = {}

    def load(self, conn: Connection) -> None:
        raw = store_meta.get_meta(conn, META_KEY)
        for d in json.loads(raw) if raw else []:
            r = Reservation(name=d["name"], nodes=tuple(d["nodes"]), t_start=d["t_start"],
                            t_end=d["t_end"], users=tuple(d["users"]),
                            accounts=tuple(d["accounts"]), maintenance=d["maintenance"])
            self.items[r.name] = r

    def views(self, now: float) -> tuple[ReservationView, ...]:
        return tuple(r.view() for r in self.items.values() if r.t_end > now)

    def _save_op(self, items: dict[str, Reservation], what: dict[str, Any]) -> Any:
        text = json.dumps([r.to_dict() for r in items.values()])
        t = time.time()

        def op(conn: Connection) -> None:
            store_meta.set_meta(conn, META_KEY, text)
            store_events.append_event(conn, None, t, EventKind.UPDATE,
                                      data={"reservation": what})
        return op

    async def create(self, caller: Caller, r: Reservation) -> Reservation:
        self.ctl.access.check_cluster(caller, Action.CREATE_RESERVATION,
                                      f"create reservation {r.name}")
        if r.name in self.items:
            raise Conflict(f"reservation {r.name!r} exists already")
        if r.t_end <= r.t_start:
            raise InvalidRequest(f"reservation {r.name!r}: it ends before it starts")
        if r.t_end <= time.time():
            raise InvalidRequest(f"reservation {r.name!r}: its window is in the past")
        unknown = sorted(set(r.nodes) - set(self.ctl.nodes))
        if unknown:
            raise NotFound(f"reservation {r.name!r}: no node named {unknown[0]!r}")
        # checked and applied in memory at once, before the write: a change that comes
        # while this one is being written sees it (and is written after it)
        self.items = {**self.items, r.name: r}
        try:
            await self.ctl.persist(self._save_op(self.items, {"created": r.to_dict(),
                                                              "by": caller.user}))
        except Exception:
            if self.items.get(r.name) is r:  # undo this change only
                self.items = {k: v for k, v in self.items.items() if k != r.name}
            raise
        self.ctl.kick()
        return r

    async def delete(self, caller: Caller, name: str) -> None:
        self.ctl.access.check_cluster(caller, Action.DELETE_RESERVATION,
                                      f"delete reservation {name}")
        old = self.items.get(name)
        if old is None:
            raise NotFound(f"reservation {name!r}: no such reservation")
        self.items = {k: v for k, v in self.items.items() if k != name}
        try:
            await self.ctl.persist(self._save_op(self.items, {"deleted": name,
                                                              "by": caller.user}))
        except Exception:
            if name not in self.items:  # undo this change only
                self.items = {**self.items, name: old}
            raise
        self.ctl.kick()

    def check_usable(self, name: str, user: str, account: str | None) -> None:
        """At submit: a job may name only a reservation that exists and admits it."""
        r = self.items.get(name)
        if r is None or r.t_end <= time.time():
            raise NotFound(f"reservation: no current reservation named {name!r}")
        if r.maintenance:
            raise PermissionDenied(f"reservation {name!r} is a maintenance window")
        if (r.users or r.accounts) and user not in r.users and account not in r.accounts:
            raise PermissionDenied(f"reservation {name!r} does not admit user {user!r}")
