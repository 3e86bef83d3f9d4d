"""Leadership: which of the controllers sharing a database leads (docs/deployment.md).

Every controller campaigns for the lease in the store (store/leader.py); the one
that takes it raises the epoch and leads, the others follow: they keep their
connection to the database and their HTTP listeners, answer "not the leader" with
the leader's address, note their heartbeat, and try again every `poll_s`. A
follower takes the lease once the leader has not renewed it for `lease_s` (by the
database's clock) or has given it up (a step-down).

The leader renews its lease every `lease_s / 5` in a thread of its own (never held
up by the controller's loop), and stops acting by itself as soon as it cannot be
sure the lease is still its own: when a renewal finds the lease taken, or when no
renewal has succeeded within `SAFE_FRACTION` of the lease, counted from when the
last successful one was *sent* (so, on its own clock, before any follower may
take over by the database's). A pause of the whole process (a garbage collection,
a machine loaded far beyond its cores) holds the renewer up as much as the
watchdog: when the lease ran out during one, the watchdog waits for the renewal
sent right after it, which finds the lease either still its own (nobody took it)
or taken. Every write transaction checks the epoch too (`fence`): a deposed
leader's write is refused in the database itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine

from corral.store import leader as store_leader
from corral.store.leader import Deposed, Lease

log = logging.getLogger("corral.leader")

SAFE_FRACTION = 0.8  # the leader stops acting after this part of its lease unrenewed
RENEWALS_PER_LEASE = 5
WATCH_S = 0.05  # how often the leader checks that its lease still runs
PAUSE_S = 0.5  # a watchdog tick this late: the whole process was held up
MIN_POLL_S = 0.1
FORGET_AFTER_S = 3600.0
ALONE_LEASE_S = 1e9  # controllers not heard from this long leave the list


class Leadership:
    """One controller's part in the election, leader or follower."""

    def __init__(self, engine: Engine, *, address: str, lease_s: float,
                 follow_first_s: float = 0.0) -> None:
        self.engine = engine
        self.me = uuid.uuid4().hex
        self.address = address
        self.lease_s = lease_s
        self.poll_s = max(MIN_POLL_S, min(0.25, lease_s / 10))
        self.renew_s = lease_s / RENEWALS_PER_LEASE
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.t_started = time.time()
        # SQLite: one controller per file (its lock, api/standby.py), so it takes
        # the lease at once and needs no renewal; every write still checks the epoch
        self.alone = engine.dialect.name == "sqlite"
        self.epoch = 0  # ours once we lead
        self.leading = False
        self.last_seen: Lease | None = None  # the lease as last read (followers)
        # a follower: the newest event of the log its warm copy has applied
        # (services/follow.py), noted with each heartbeat for `corral status`
        self.applied_seq: Callable[[], int] = lambda: 0
        self._not_before = time.monotonic() + follow_first_s
        self._valid_until = 0.0  # monotonic: until when we are sure to lead
        self._stop = threading.Event()
        self._lost: Callable[[str], None] | None = None
        # after a step-down has given the lease up: what becomes of this controller
        # (the server starts it again as a follower)
        self.on_handover: Callable[[], None] | None = None
        self._lost_once = threading.Lock()
        self._renew_conn: Connection | None = None  # the renewer's own (PostgreSQL)

    # ---- following ------------------------------------------------------------
    def wait_to_lead(self) -> int:
        """Follow until this controller takes the lease (blocking: run it in a
        thread); the new epoch. `stop()` ends the wait with Deposed."""
        while not self._stop.is_set():
            t_sent = time.monotonic()
            try:
                epoch = self._try_once(t_sent >= self._not_before)
            except Exception as e:  # the database is away: keep trying
                log.warning("leader election: the store cannot be reached: %s",
                            str(e).splitlines()[0] if str(e) else type(e).__name__)
                self._stop.wait(self.poll_s * 4)
                continue
            if epoch is not None:
                self.epoch = epoch
                self.leading = True
                self._valid_until = t_sent + SAFE_FRACTION * self.lease_s
                log.info("leading: epoch %d (lease %.1f s)", epoch, self.lease_s)
                return epoch
            self._stop.wait(self._next_try_s())
        raise Deposed("stopped before leading")

    def _try_once(self, may_campaign: bool) -> int | None:
        with self.engine.begin() as conn:
            store_leader.bound_idle(conn, self.lease_s)
            # (alone, the lease never lapses: nobody else may take it anyway)
            epoch = store_leader.campaign(
                conn, self.me, self.address, ALONE_LEASE_S if self.alone else self.lease_s,
                force=self.alone) if may_campaign else None
            if epoch is None:
                lease = store_leader.read_lease(conn)
                if self.last_seen is None or lease.epoch != self.last_seen.epoch:
                    log.info("following the leader %s (epoch %d)",
                             lease.address or "(none yet)", lease.epoch)
                self.last_seen = lease
            store_leader.heartbeat(conn, self.me, address=self.address, host=self.host,
                                   pid=self.pid, role="leader" if epoch else "follower",
                                   epoch=epoch or 0, t_started=self.t_started,
                                   applied_seq=0 if epoch else self.applied_seq())
        return epoch

    def _next_try_s(self) -> float:
        """Until the next campaign: the poll interval, or less when the lease as last
        read runs out sooner (its end by the database's clock, counted from the read)."""
        seen = self.last_seen
        if seen is None or seen.holder is None:
            return self.poll_s
        left_s = seen.t_renewed + seen.lease_s - seen.now
        return max(0.01, min(self.poll_s, left_s + 0.01))

    def leader_address(self) -> str | None:
        """Where the leader is, as last read (None: unknown or none)."""
        seen = self.last_seen
        if seen is None or seen.holder is None or not seen.address:
            return None
        return seen.address

    # ---- leading --------------------------------------------------------------
    def lead(self, on_lost: Callable[[str], None]) -> None:
        """Keep the lease (renewer and watchdog threads); `on_lost(why)` once it
        cannot be kept (called from one of those threads)."""
        self._lost = on_lost
        if self.alone:
            return
        threading.Thread(target=self._renew_loop, name="corral-lease", daemon=True).start()
        threading.Thread(target=self._watch_loop, name="corral-lease-watch",
                         daemon=True).start()

    def fence(self, conn: Connection) -> None:
        """The writer's last statement in every transaction (services/writer.py):
        the lease row is locked only until the commit that follows."""
        store_leader.bound_idle(conn, self.lease_s)
        store_leader.fence(conn, self.me, self.epoch)

    def _renew_loop(self) -> None:
        t_next = time.monotonic() + self.renew_s
        try:
            while not self._stop.wait(max(0.0, t_next - time.monotonic())):
                t_sent = time.monotonic()
                t_next = t_sent + self.renew_s  # (a slow renewal does not delay the next)
                try:
                    ok = self._renew_once()
                except Exception as e:
                    log.warning("lease renewal failed after %.3f s: %s",
                                time.monotonic() - t_sent,
                                str(e).splitlines()[0] if str(e) else type(e).__name__)
                    self._close_renewal_connection()
                    continue
                took_s = time.monotonic() - t_sent
                if not ok:
                    self._give_up(f"the lease of epoch {self.epoch} was taken by another "
                                  f"controller")
                    return
                self._valid_until = max(self._valid_until,
                                        t_sent + SAFE_FRACTION * self.lease_s)
                log.log(logging.WARNING if took_s > self.renew_s else logging.DEBUG,
                        "lease renewed in %.3f s", took_s)
                self._heartbeat()
        finally:
            self._close_renewal_connection()

    def _renew_once(self) -> bool:
        """One renewal: a single statement, committed at once, on a connection of
        its own (no wait for the pool, and none for a write transaction's fence:
        store/leader.py), which gives up on any wait longer than a renewal period."""
        if self._renew_conn is None:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                store_leader.bound_waits(conn, self.renew_s)
                conn.commit()
            except Exception:
                conn.close()
                raise
            self._renew_conn = conn
        conn = self._renew_conn
        ok = store_leader.renew(conn, self.me, self.epoch)
        conn.commit()
        return ok

    def _heartbeat(self) -> None:
        """Note the leader in the list of controllers (after the renewal, which it
        never delays: `corral status` reads it)."""
        conn = self._renew_conn
        if conn is None:
            return
        try:
            store_leader.heartbeat(conn, self.me, address=self.address, host=self.host,
                                   pid=self.pid, role="leader", epoch=self.epoch,
                                   t_started=self.t_started)
            store_leader.forget_stale(conn, FORGET_AFTER_S)
            conn.commit()
        except Exception as e:
            log.warning("leader heartbeat failed: %s",
                        str(e).splitlines()[0] if str(e) else type(e).__name__)
            self._close_renewal_connection()

    def _close_renewal_connection(self) -> None:
        conn, self._renew_conn = self._renew_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _watch_loop(self) -> None:
        t_tick = time.monotonic()
        recheck_until = 0.0  # after a pause of the whole process: see below
        while not self._stop.wait(WATCH_S):
            now = time.monotonic()
            if now - t_tick > WATCH_S + PAUSE_S:
                log.warning("lease watchdog: a tick came %.3f s late; %.3f s left",
                            now - t_tick - WATCH_S, self._valid_until - now)
                # the whole process was held up (a garbage collection, a machine
                # loaded far beyond its cores): the renewer as much as this thread.
                # If the lease ran out during the pause, only a renewal sent after
                # it can tell whether another controller took it: the renewer sends
                # one at once; give it two renewal periods before giving up
                if self._valid_until >= t_tick:
                    recheck_until = now + 2 * self.renew_s
            t_tick = now
            if now > self._valid_until and now > recheck_until:
                self._give_up(f"the lease of epoch {self.epoch} could not be renewed "
                              f"within {SAFE_FRACTION * self.lease_s:.1f} s")
                return

    def _give_up(self, why: str) -> None:
        if not self._lost_once.acquire(blocking=False):
            return
        self.leading = False
        self._stop.set()
        log.critical("no longer the leader: %s", why)
        if self._lost is not None:
            self._lost(why)

    def release(self) -> bool:
        """Give the lease up now (a step-down); True if it was still ours."""
        with self.engine.begin() as conn:
            store_leader.bound_idle(conn, self.lease_s)
            return store_leader.release(conn, self.me, self.epoch)

    def stop(self) -> None:
        self._stop.set()

    def forget(self) -> None:
        """Leave the list of controllers (a clean exit)."""
        # (the database away: the row ages out)
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            store_leader.forget(conn, self.me)

    # ---- what `corral status` shows -----------------------------------------------
    def describe(self) -> dict[str, Any]:
        """The lease and every controller, read from the store now."""
        with self.engine.begin() as conn:
            lease = store_leader.read_lease(conn)
            members = store_leader.members(conn)
            times = store_leader.event_times(
                conn, {int(m.get("applied_seq") or 0) for m in members})
        return {**describe(lease, members, self.me, times), "alone": self.alone}


def lag(applied_seq: int, times: dict[int, float]) -> dict[str, Any]:
    """How far behind the log a follower is: in events, and in seconds (between the
    newest event and the newest it applied, by the times the leader gave them)."""
    newest = max((s for s in times if s >= 0), default=0)
    t_newest = times.get(-1)
    t_applied = times.get(applied_seq)
    behind_s = 0.0 if newest <= applied_seq or t_newest is None else \
        max(0.0, t_newest - t_applied) if t_applied is not None else None
    return {"applied_seq": applied_seq, "lag_events": max(0, newest - applied_seq),
            "lag_s": None if behind_s is None else round(behind_s, 3)}


def describe(lease: Lease, members: list[dict[str, Any]], me: str,
             times: dict[int, float] | None = None) -> dict[str, Any]:
    times = times or {}
    leader = next((m for m in members if m["id"] == lease.holder), None) \
        if lease.held else None
    return {
        "last_seq": max((s for s in times if s >= 0), default=0),
        "epoch": lease.epoch,
        "lease_s": lease.lease_s,
        "leader": None if leader is None and not lease.held else {
            "id": lease.holder, "address": lease.address,
            "host": leader["host"] if leader else "",
            "renewed_s_ago": round(max(0.0, lease.now - lease.t_renewed), 3)},
        "controllers": [
            {"id": m["id"], "address": m["address"], "host": m["host"], "pid": m["pid"],
             "role": "leader" if lease.held and m["id"] == lease.holder else "follower",
             "heartbeat_s_ago": m["age_s"], "self": m["id"] == me,
             **({} if lease.held and m["id"] == lease.holder
                else lag(int(m.get("applied_seq") or 0), times))}
            for m in members if m["id"] == lease.holder or m["age_s"] < FORGET_AFTER_S],
    }
