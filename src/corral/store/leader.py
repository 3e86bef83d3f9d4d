"""The leader's lease and the controllers sharing a database (migration 0016).

One row (`leader`, id 1) says which controller leads, since when (`epoch`, raised at
every take-over) and until when: its `t_renewed` plus its `lease_s`, both by the
*database's* clock, so that the controllers' own clocks never have to agree. A
controller takes the lease only when it is free or has lapsed (`campaign`); the
leader renews it (`renew`), and every transaction that changes state first checks,
in the same transaction, that the lease is still its own (`fence`): a deposed
leader's write is refused before it can land (docs/deployment.md, "Fencing").

`controllers` holds each controller's latest heartbeat (leader or follower), for
`corral status`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, text

from corral.model.errors import CorralError
from corral.store import dialect
from corral.store.schema import controllers, events

LEADER_ROW = 1


class Deposed(CorralError):
    """This controller's epoch is no longer the leader's: its write is refused."""

    code = "deposed"


@dataclass(frozen=True)
class Lease:
    epoch: int
    holder: str | None
    address: str
    lease_s: float
    t_renewed: float
    now: float  # the database's clock when this was read

    @property
    def held(self) -> bool:
        """Held by someone, and not lapsed."""
        return self.holder is not None and self.now <= self.t_renewed + self.lease_s


def bound_idle(conn: Connection, limit_s: float) -> None:
    """PostgreSQL: end this transaction if it waits on its client longer than
    `limit_s` (SET LOCAL idle_in_transaction_session_timeout). Every transaction
    that locks the lease row says so first: a controller frozen or cut off while it
    holds the lock would otherwise keep every other from taking the lease."""
    if conn.dialect.name == "postgresql":
        ms = max(1000, int(limit_s * 1000))
        conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {ms}"))


def now_sql(conn: Connection) -> str:
    """The database's clock in epoch seconds, as SQL."""
    if conn.dialect.name == "postgresql":
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"
    return "((julianday('now') - 2440587.5) * 86400.0)"


def db_now(conn: Connection) -> float:
    return float(conn.execute(text(f"SELECT {now_sql(conn)}")).scalar_one())


def read_lease(conn: Connection) -> Lease:
    row = conn.execute(text(
        f"SELECT epoch, holder, address, lease_s, t_renewed, {now_sql(conn)} AS now "
        f"FROM leader WHERE id = {LEADER_ROW}")).one()
    return Lease(int(row.epoch), row.holder, str(row.address), float(row.lease_s),
                 float(row.t_renewed), float(row.now))


def campaign(conn: Connection, me: str, address: str, lease_s: float, *,
             force: bool = False) -> int | None:
    """Take the lease if it is free or has lapsed (or at once with `force`, for a
    controller that knows it is alone: SQLite's file lock): the new epoch, else None.
    On PostgreSQL a campaign that meets the leader's open transaction waits for it
    and then judges the row as that transaction left it."""
    now = now_sql(conn)
    free = "" if force else f"AND (holder IS NULL OR t_renewed + lease_s < {now}) "
    # PostgreSQL: the strongest row lock, and only on a lease that looks free: it
    # waits for every write transaction's fence (FOR KEY SHARE) to commit, and
    # theirs for it
    if conn.dialect.name == "postgresql" and not force and conn.execute(text(
            f"SELECT id FROM leader WHERE id = {LEADER_ROW} {free}FOR UPDATE")
            ).first() is None:
        return None
    row = conn.execute(text(
        f"UPDATE leader SET epoch = epoch + 1, holder = :me, address = :address, "
        f"lease_s = :lease_s, t_renewed = {now} "
        f"WHERE id = {LEADER_ROW} {free}"
        f"RETURNING epoch"), {"me": me, "address": address, "lease_s": lease_s}).first()
    return None if row is None else int(row[0])


def renew(conn: Connection, me: str, epoch: int) -> bool:
    """Renew our lease; False when it is no longer ours (another took it)."""
    result = conn.execute(text(
        f"UPDATE leader SET t_renewed = {now_sql(conn)} "
        f"WHERE id = {LEADER_ROW} AND epoch = :epoch AND holder = :me"),
        {"me": me, "epoch": epoch})
    return bool(result.rowcount == 1)


# built once: the leader's every commit ends with one of them
_FENCE_PG = text(f"SELECT epoch, holder FROM leader WHERE id = {LEADER_ROW} FOR KEY SHARE")
_FENCE_SQLITE = text(f"UPDATE leader SET epoch = epoch WHERE id = {LEADER_ROW} "
                     f"AND epoch = :epoch AND (holder = :me OR holder IS NULL)")


def fence(conn: Connection, me: str, epoch: int) -> None:
    """Last statement of every write transaction of the leader: lock the lease row
    and check that no other controller has taken the lease since ours began (the
    epoch is ours; the lease given up in this very transaction, a step-down, is
    still ours until someone takes it), else refuse the whole transaction (Deposed).

    A campaign and this check wait for each other on the row's lock; the leader's
    renewal does not wait for it. On PostgreSQL the check takes the weakest row lock
    (FOR KEY SHARE): a campaign's FOR UPDATE conflicts with it, the renewal's
    UPDATE (of no key column) does not, so a long write transaction never holds the
    lease's renewal up. (SQLite: one writer at a time, and one controller.)"""
    if conn.dialect.name == "postgresql":
        row = conn.execute(_FENCE_PG).one()
        ours = int(row.epoch) == epoch and row.holder in (me, None)
    else:
        ours = conn.execute(_FENCE_SQLITE, {"me": me, "epoch": epoch}).rowcount == 1
    if not ours:
        raise Deposed(f"epoch {epoch} is no longer the leader's: write refused")


def bound_waits(conn: Connection, limit_s: float) -> None:
    """PostgreSQL: this session's statements give up after `limit_s` (waiting for a
    lock, or in all): the renewal's connection, which must never wait long."""
    if conn.dialect.name == "postgresql":
        ms = max(100, int(limit_s * 1000))
        conn.execute(text(f"SET lock_timeout = {ms}"))
        conn.execute(text(f"SET statement_timeout = {ms}"))


def release(conn: Connection, me: str, epoch: int) -> bool:
    """Give the lease up (a step-down): any follower may take it at once."""
    result = conn.execute(text(
        f"UPDATE leader SET holder = NULL, t_renewed = 0 "
        f"WHERE id = {LEADER_ROW} AND epoch = :epoch AND holder = :me"),
        {"me": me, "epoch": epoch})
    return bool(result.rowcount == 1)


def heartbeat(conn: Connection, me: str, *, address: str, host: str, pid: int,
              role: str, epoch: int, t_started: float, applied_seq: int = 0) -> None:
    """Note that controller `me` is alive now (by the database's clock), and (a
    follower) the newest event it has applied."""
    dialect.upsert(conn, controllers, {
        "id": me, "address": address, "host": host, "pid": pid, "role": role,
        "epoch": epoch, "t_started": t_started, "t_heartbeat": db_now(conn),
        "applied_seq": applied_seq}, ["id"])


def event_times(conn: Connection, seqs: set[int]) -> dict[int, float]:
    """When each of these events happened (the `t` the leader gave it), and the
    newest event's under the key -1 (absent: the log is empty)."""
    out: dict[int, float] = {}
    # (by mapping: Row.t is SQLAlchemy's tuple accessor, not the column)
    newest = conn.execute(select(events.c.seq, events.c.t).order_by(
        events.c.seq.desc()).limit(1)).mappings().first()
    if newest is not None:
        out[-1] = float(newest["t"])
        out[int(newest["seq"])] = float(newest["t"])
    wanted = [s for s in seqs if s > 0 and s not in out]
    if wanted:
        for row in conn.execute(select(events.c.seq, events.c.t).where(
                events.c.seq.in_(wanted))).mappings():
            out[int(row["seq"])] = float(row["t"])
    return out


def members(conn: Connection) -> list[dict[str, Any]]:
    """Every controller heard from, newest first, each with `age_s` since its last
    heartbeat by the database's clock."""
    now = db_now(conn)
    rows = conn.execute(controllers.select().order_by(
        controllers.c.t_heartbeat.desc())).mappings().all()
    return [{**dict(r), "age_s": round(max(0.0, now - float(r["t_heartbeat"])), 3)}
            for r in rows]


def forget(conn: Connection, me: str) -> None:
    conn.execute(controllers.delete().where(controllers.c.id == me))


def forget_stale(conn: Connection, older_than_s: float) -> None:
    """Forget the controllers not heard from for this long (gone for good)."""
    conn.execute(controllers.delete().where(
        controllers.c.t_heartbeat < db_now(conn) - older_than_s))
