"""The audit trail: who asked for what change, from where, when, and what came of it.

Every state-changing request — accepted or refused — becomes one entry (the REST
layer makes them: api/audit.py). Entries are kept in memory and handed to the
controller's writer every FLUSH_EVERY_S, all of them in one insert that joins the
group commit then forming, so recording costs a request no commit of its own and
a burst of requests a few more commits a second, not one each: an entry is stored
within FLUSH_EVERY_S and a commit of its answer (a controller killed in between
loses the entries of that moment). Queries first have the entries recorded so far
stored.

Who may read it: operators and administrators every entry, users their own
(services/authz.py, Action.READ_AUDIT).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from corral.model.roles import Role
from corral.services.access import PRIVATE_SPEC_FIELDS
from corral.services.authz import Action, allows, authorize
from corral.services.identity import Caller
from corral.services.writer import Writer
from corral.store import audit as store_audit

log = logging.getLogger("corral.audit")

MAX_TEXT = 200  # a string of the request summary is cut to this many characters
MAX_SUMMARY = 2000  # the summary's JSON at most (cut further: {"truncated": true})
MAX_RESULT = 1000
MAX_QUERY = 100_000
UNIX_SOCKET = "unix socket"
FLUSH_EVERY_S = 0.2  # an entry is stored within this, with the next transaction if one starts
# request fields never recorded (a credential hand-over's refresh token, its handle)
SECRETS = frozenset({"refresh_token", "handle", "access_token", "client_secret"})


def summarize(body: Any, query: Mapping[str, str] | None = None, *,
              size: int = MAX_SUMMARY + 1) -> dict[str, Any]:
    """What was asked, without a job's private fields (script, environment, argv:
    their presence is kept, not their content) and with long strings cut. `size`:
    the request body's length (a small one is not measured again)."""
    out: dict[str, Any] = {}
    if isinstance(body, Mapping):
        for key, value in body.items():
            out[str(key)] = "(withheld)" if key in PRIVATE_SPEC_FIELDS or key in SECRETS \
                else _cut(value)
    elif isinstance(body, list):
        out["items"] = len(body)
    if query:
        out["query"] = {k: _cut(v) for k, v in query.items()}
    if size > MAX_SUMMARY and len(json.dumps(out, separators=(",", ":"),
                                             default=str)) > MAX_SUMMARY:
        keep = {k: v for k, v in out.items() if not isinstance(v, dict | list)}
        out = {**keep, "truncated": True}
    return out


def _cut(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, list) and len(value) > 20:
        return [_cut(v) for v in value[:20]] + [f"… {len(value) - 20} more"]
    if isinstance(value, list):
        return [_cut(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _cut(v) for k, v in list(value.items())[:20]}
    return value


def entry_row(*, caller: Caller | None, uid: int | None, origin: str, action: str,
              job_id: int | None, target: str, request: Mapping[str, Any], status: int,
              result: str, request_id: str | None, t: float | None = None
              ) -> dict[str, Any]:
    """One entry's columns. `caller`: None when no identity was established (then
    `uid` is the socket peer's, if any)."""
    return {
        "t": time.time() if t is None else t,
        "user": caller.user if caller else ("anonymous" if uid is None else str(uid)),
        "uid": caller.uid if caller else uid,
        "role": str(caller.role if caller else Role.USER),
        "subject": caller.subject if caller else None,
        "issuer": caller.issuer if caller else None,
        "origin": origin,
        "action": action,
        "job_id": job_id,
        "target": target,
        "request": json.dumps(dict(request), separators=(",", ":"), sort_keys=True,
                              default=str),
        "status": status,
        "result": result if len(result) <= MAX_RESULT else result[:MAX_RESULT] + "…",
        "request_id": request_id,
    }


class AuditTrail:
    def __init__(self, writer: Writer, counters: dict[str, int]) -> None:
        """`counters`: the controller's (/metrics): audit_entries, the requests
        recorded; audit_refused, those refused for who asked (401, 403)."""
        self.writer = writer
        self.counters = counters
        counters.setdefault("audit_entries", 0)
        counters.setdefault("audit_refused", 0)
        counters.setdefault("audit_pruned", 0)
        self._rows: list[dict[str, Any]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._now = asyncio.Event()  # set: store what is kept without waiting

    def record(self, row: dict[str, Any]) -> None:
        """Keep an entry; it is stored within FLUSH_EVERY_S (and a commit)."""
        self._rows.append(row)
        self.counters["audit_entries"] += 1
        self.counters["audit_refused"] += row["status"] in (401, 403)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush(),
                                                                    name="audit")

    async def _flush(self) -> None:
        while self._rows:
            rows, self._rows = self._rows, []
            # stored with the next transaction the writer starts, or alone within
            # FLUSH_EVERY_S; at once when asked to (sync)
            within_s = 0.0 if self._now.is_set() else FLUSH_EVERY_S
            try:
                await self.writer.run(partial(store_audit.append_entries, rows=rows),
                                      within_s=within_s)
            except Exception:  # the writer logged why; the trail must not stop
                log.error("audit: %d entries could not be stored", len(rows))
        self._now.clear()

    async def sync(self) -> None:
        """Until every entry recorded so far is stored."""
        while self._flushing is not None and not self._flushing.done():
            self._now.set()
            self.writer.commit_later_now()
            await asyncio.shield(self._flushing)

    async def prune(self, retain_days: float, now: float | None = None) -> int:
        """Remove the entries older than `retain_days` -> how many."""
        cutoff = (time.time() if now is None else now) - retain_days * 86400.0
        await self.sync()
        removed = int(await self.writer.run(partial(store_audit.prune, before=cutoff)))
        self.counters["audit_pruned"] += removed
        if removed:
            log.info("audit: removed %d entries older than %g days", removed, retain_days)
        return removed

    async def prune_loop(self, retain_days: float, every_s: float) -> None:
        """[audit] retain_days: prune at start and every `every_s` (0 days: never)."""
        if retain_days <= 0:
            return
        while True:
            try:
                await self.prune(retain_days)
            except Exception:  # the writer logged why; try again next time
                log.error("audit: the old entries could not be removed")
            await asyncio.sleep(every_s)

    async def query(self, caller: Caller, *, users: Sequence[str] = (),
                    job_id: int | None = None, actions: Sequence[str] = (),
                    since: float | None = None, until: float | None = None,
                    limit: int = 1000) -> list[dict[str, Any]]:
        """Entries the caller may read: all for operators and administrators, a user's
        own otherwise (asking for another user's is refused)."""
        uid = None
        if not allows(caller, Action.READ_AUDIT):
            others = [u for u in users if u not in (caller.user, str(caller.uid))]
            if others:
                authorize(caller, Action.READ_AUDIT,
                          what=f"read the audit entries of {others[0]}")
            users, uid = (), caller.uid
        await self.sync()
        return await self.writer.read(lambda conn: store_audit.query(
            conn, users=users, uid=uid, job_id=job_id, actions=actions, since=since,
            until=until, limit=min(limit, MAX_QUERY)))
