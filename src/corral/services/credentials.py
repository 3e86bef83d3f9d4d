"""Credentials that follow long jobs (docs/identity.md, "Job credentials").

A user signed in with `corral login` hands the controller their sign-in when they
first submit a `--credential` job: the client sends its refresh token (POST
/v1/credentials); the controller renews it at the provider at once (proving it, and
taking the chain over: a rotating provider then spends the client's copy), keeps it
sealed (services/sealing.py) and gives the client a handle, with which the client
gets its own access tokens from the controller from then on (POST
/v1/credentials/token). One holder renews the sign-in, so a rotating provider
never sees a refresh token used twice.

The controller renews the access token before it expires (renew_before_s, at most
half its life) while the user has a `--credential` job running, and sends each new
one to the agents running those jobs (an order of kind "credential"; the launch
order carries the current one). A rotated refresh token replaces the old one in one
statement, committed before it is used. A refusal from the provider (the sign-in
was revoked or expired), `corral logout`, or `corral credential revoke` ends the
credential: renewals stop, and every unfinished credential job of the user gets an
event saying so."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral.model.errors import InvalidRequest, NotFound, PermissionDenied, Unauthenticated
from corral.model.event import EventKind
from corral.model.job import Job
from corral.model.states import JobState
from corral.services.identity import Caller
from corral.services.provider import ProviderClient, Refused, claims_of
from corral.services.sealing import NoKey, Sealer
from corral.store import credentials as store

if TYPE_CHECKING:
    from corral.services.controller import Controller

log = logging.getLogger("corral.credentials")

CHECK_EVERY_S = 1.0
RETRY_AFTER_S = 5.0  # after a provider that could not be reached
IDLE_RECHECK_S = 10.0  # a credential with no job to renew for: looked at again after
CLIENT_MARGIN_S = 35.0  # a client asking for a token gets one this far from expiry


@dataclass(slots=True)
class Credential:
    row: dict[str, Any]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    retry_at: float = 0.0

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def uid(self) -> int:
        return int(self.row["uid"])

    def context(self, kind: str) -> str:
        return f"{kind} {self.row['issuer']} {self.row['subject']}"

    def public(self) -> dict[str, Any]:
        r = self.row
        return {k: r[k] for k in ("id", "user", "uid", "issuer", "subject", "state",
                                  "reason", "t_created", "t_updated", "t_access_expires")}


def _hash(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


class Credentials:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.cfg = ctl.cfg.credentials
        self.active: dict[int, Credential] = {}
        self._sealer: Sealer | None = None
        self._provider: ProviderClient | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.counters = ctl.counters
        for name in ("credential_renewals", "credential_renewal_failures"):
            self.counters.setdefault(name, 0)

    # ---- parts made when first needed --------------------------------------------
    @property
    def sealer(self) -> Sealer:
        if self._sealer is None:
            try:
                self._sealer = Sealer.from_config(self.ctl.cfg)
            except NoKey as e:
                raise InvalidRequest(f"credential: {e}") from None
        return self._sealer

    @property
    def provider(self) -> ProviderClient:
        if self._provider is None:
            self._provider = ProviderClient(self.cfg.timeout_s)
        return self._provider

    async def load(self) -> None:
        rows = await self.ctl.writer.read(store.load)
        self.active = {int(r["id"]): Credential(r) for r in rows}

    async def close(self) -> None:
        if self._provider is not None:
            await self._provider.close()

    # ---- which credential a job uses ---------------------------------------------
    def current(self, uid: int) -> Credential | None:
        """The user's newest active credential."""
        found = [c for c in self.active.values() if c.uid == uid]
        return max(found, key=lambda c: c.id) if found else None

    def holds(self, owner_uid: int) -> bool:
        """Whether a sign-in of this user is kept (a job may ask for a credential)."""
        return self.current(owner_uid) is not None

    def renew_soon(self, owner_uid: int) -> None:
        """A job asking for a credential was queued: renewed from the next tick on, if
        it is due."""
        c = self.current(owner_uid)
        if c is not None:
            c.retry_at = 0.0

    def _token(self, c: Credential) -> tuple[str, float] | None:
        sealed = c.row.get("access_sealed")
        if not sealed:
            return None
        return self.sealer.open(sealed, c.context("access")), float(c.row["t_access_expires"])

    def attach(self, order: dict[str, Any]) -> None:
        """A launch order leaving for an agent gets the job's current access token."""
        job = self.ctl.jobs.get(int(order["job_id"]))
        if job is None or not job.spec.credential:
            return
        c = self.current(job.uid)
        token = self._token(c) if c is not None else None
        fresh = token is not None and token[1] > time.time()
        order["launch"]["credential"] = {"token": token[0] if fresh and token else None,
                                         "expires_at": token[1] if fresh and token else 0}

    # ---- handing over, and the client's own tokens ---------------------------------
    async def hand_over(self, caller: Caller, refresh_token: str) -> dict[str, Any]:
        if caller.subject is None or caller.issuer is None:
            raise InvalidRequest("credential: only a caller with a token can hand a sign-in "
                                 "over (on the Unix socket there is none)")
        issuer = next((i for i in self.ctl.cfg.auth.issuers if i.issuer == caller.issuer),
                      None)
        if issuer is None or not issuer.client_id:
            raise InvalidRequest(f"credential: issuer {caller.issuer} has no client for "
                                 f"logins (auth.issuers.client_id)")
        sealer = self.sealer
        ends = await self.provider.endpoints(issuer.issuer)
        try:
            answer = await self.provider.refresh(ends.token, issuer.client_id, refresh_token,
                                                 issuer.resource)
        except Refused as e:
            raise Unauthenticated(f"credential: {e}") from None
        access = str(answer["access_token"])
        claims = claims_of(access)
        if claims.get("sub") != caller.subject or claims.get("iss") != caller.issuer:
            raise PermissionDenied("credential: the refresh token is not of the caller's "
                                   "sign-in")
        now = time.time()
        handle = secrets.token_urlsafe(32)
        lifetime_s = float(answer.get("expires_in", 300))
        row: dict[str, Any] = {
            "user": caller.user, "uid": caller.uid, "issuer": caller.issuer,
            "subject": caller.subject, "client_id": issuer.client_id,
            "token_endpoint": ends.token, "resource": issuer.resource,
            "t_access_expires": now + lifetime_s, "access_lifetime_s": lifetime_s,
            "handle_hash": _hash(handle), "state": "active", "reason": "",
            "t_created": now, "t_updated": now}
        probe = Credential(row)
        row["refresh_sealed"] = sealer.seal(str(answer.get("refresh_token") or refresh_token),
                                            probe.context("refresh"))
        row["access_sealed"] = sealer.seal(access, probe.context("access"))
        old = [c for c in self.active.values() if c.row["issuer"] == caller.issuer
               and c.row["subject"] == caller.subject]

        def op(conn: Any) -> int:
            for c in old:
                store.set_state(conn, c.id, "replaced", "a newer sign-in was handed over",
                                now)
            return store.add(conn, row)
        row["id"] = await self.ctl.writer.run(op)
        for c in old:
            self.active.pop(c.id, None)
            self._spawn(self._revoke_at_provider(c))
        self.active[row["id"]] = cred = Credential(row)
        self._send(cred, self._users(cred))  # running jobs of an older one: this one's token
        log.info("credential %d: %s handed over the sign-in of %s from %s", row["id"],
                 caller.user, caller.subject, caller.issuer)
        return {"id": row["id"], "handle": handle, "access_token": access,
                "expires_in": lifetime_s}

    def _by_handle(self, cred_id: int, handle: str) -> Credential:
        c = self.active.get(cred_id)
        if c is None or not hmac.compare_digest(c.row["handle_hash"], _hash(handle)):
            raise Unauthenticated(f"credential {cred_id}: unknown, revoked or expired: "
                                  f"run 'corral login'")
        return c

    async def client_token(self, cred_id: int, handle: str) -> dict[str, Any]:
        """An access token for the client that handed the sign-in over."""
        c = self._by_handle(cred_id, handle)
        if float(c.row["t_access_expires"]) - time.time() < CLIENT_MARGIN_S:
            await self._renew(c)
            c = self._by_handle(cred_id, handle)
        token = self._token(c)
        assert token is not None
        return {"access_token": token[0], "expires_in": max(0.0, token[1] - time.time())}

    # ---- revoking ------------------------------------------------------------------
    def listing(self, caller: Caller) -> list[dict[str, Any]]:
        return [c.public() for c in sorted(self.active.values(), key=lambda c: c.id)
                if caller.is_operator or c.uid == caller.uid]

    async def revoke_by_handle(self, cred_id: int, handle: str) -> None:
        await self._end(self._by_handle(cred_id, handle), "revoked by its client (logout)",
                        at_provider=True)

    async def revoke(self, caller: Caller, cred_id: int) -> None:
        c = self.active.get(cred_id)
        if c is None:
            raise NotFound(f"credential {cred_id}: not found (or no longer active)")
        if not caller.may_act_on(c.uid):
            raise PermissionDenied(f"revoke credential {cred_id} of {c.row['user']}: "
                                   f"needs administrator")
        await self._end(c, f"revoked by {caller.user}", at_provider=True)

    async def _end(self, c: Credential, reason: str, *, at_provider: bool) -> None:
        if self.active.pop(c.id, None) is None:
            return
        now = time.time()
        jobs = [j for j in self.ctl.jobs.values() if j.spec.credential and j.uid == c.uid
                and not j.state.is_final and self.current(c.uid) is None]
        ops = [self.ctl.record(j, EventKind.CREDENTIAL,
                               data={"credential": c.id, "renewal": "stopped",
                                     "reason": reason}) for j in jobs]

        def op(conn: Any) -> None:
            store.set_state(conn, c.id, "revoked", reason, now)
            for o in ops:
                o(conn)
        await self.ctl.persist(op)
        log.warning("credential %d of %s: %s; renewals stop for %d job(s)", c.id,
                    c.row["user"], reason, len(jobs))
        if at_provider:
            await self._revoke_at_provider(c)

    async def _revoke_at_provider(self, c: Credential) -> None:
        with contextlib.suppress(Exception):
            token = self.sealer.open(c.row["refresh_sealed"], c.context("refresh"))
            await self.provider.revoke(c.row["issuer"], c.row["client_id"], token)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- renewing ------------------------------------------------------------------
    def _renew_before_s(self, c: Credential) -> float:
        return min(self.cfg.renew_before_s, float(c.row["access_lifetime_s"]) / 2)

    def _users(self, c: Credential) -> list[Job]:
        """The running jobs that take this credential's tokens."""
        if self.current(c.uid) is not c:
            return []
        return [self.ctl.jobs[i] for i in self.ctl.jobs.ids_in(JobState.RUNNING)
                if self.ctl.jobs[i].spec.credential and self.ctl.jobs[i].uid == c.uid]

    def _waiting_uids(self) -> set[int]:
        """The owners of unfinished credential jobs: their sign-ins are kept alive
        (renewed) while the jobs wait too, so that a provider's idle timeout does
        not end them and a job starts with a fresh token."""
        jobs = self.ctl.jobs
        return {jobs[i].uid for i in jobs.ids_in(*(s for s in JobState if not s.is_final))
                if jobs[i].spec.credential}

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            now = time.time()
            due = [c for c in self.active.values() if now >= c.retry_at and
                   float(c.row["t_access_expires"]) - now <= self._renew_before_s(c)]
            if not due:
                continue
            wanted = self._waiting_uids()
            for c in due:
                if c.uid not in wanted or self.current(c.uid) is not c:
                    c.retry_at = now + IDLE_RECHECK_S  # (a submission looks again)
                    continue
                try:
                    if await self._renew(c):
                        self._send(c, self._users(c))
                except Exception:  # one credential's trouble must not stop the others
                    log.exception("credential %d: renewal failed", c.id)
                    c.retry_at = time.time() + RETRY_AFTER_S

    def _send(self, c: Credential, jobs: list[Job]) -> None:
        token = self._token(c)
        if token is None:
            return
        for j in jobs:
            if j.nodes:
                self.ctl.orders.push(j.nodes[0], {
                    "kind": "credential", "job_id": j.id, "run": j.restarts,
                    "token": token[0], "expires_at": token[1]})

    async def _renew(self, c: Credential) -> bool:
        """Renew the access token at the provider -> whether it was renewed (False:
        the credential ended, or the provider could not be reached)."""
        async with c.lock:
            if c.id not in self.active:
                return False
            if float(c.row["t_access_expires"]) - time.time() > self._renew_before_s(c) \
                    and float(c.row["t_access_expires"]) - time.time() > CLIENT_MARGIN_S:
                return True  # renewed by another caller meanwhile
            old_sealed = str(c.row["refresh_sealed"])
            refresh_token = self.sealer.open(old_sealed, c.context("refresh"))
            try:
                answer = await self.provider.refresh(
                    c.row["token_endpoint"], c.row["client_id"], refresh_token,
                    c.row["resource"])
            except Refused as e:
                self.counters["credential_renewal_failures"] += 1
                await self._end(c, str(e), at_provider=False)
                return False
            except Exception as e:
                self.counters["credential_renewal_failures"] += 1
                log.warning("credential %d: %s; trying again in %.0f s", c.id, e,
                            RETRY_AFTER_S)
                c.retry_at = time.time() + RETRY_AFTER_S
                return False
            now = time.time()
            lifetime_s = float(answer.get("expires_in", 300))
            values = {
                "refresh_sealed": self.sealer.seal(
                    str(answer.get("refresh_token") or refresh_token), c.context("refresh")),
                "access_sealed": self.sealer.seal(str(answer["access_token"]),
                                                  c.context("access")),
                "t_access_expires": now + lifetime_s, "access_lifetime_s": lifetime_s,
                "t_updated": now}
            stored = await self.ctl.writer.run(
                lambda conn: store.rotate(conn, c.id, old_sealed, values))
            if not stored:  # renewed elsewhere: take what the store holds
                fresh = await self.ctl.writer.read(lambda conn: store.get(conn, c.id))
                if fresh is None or fresh["state"] != "active":
                    self.active.pop(c.id, None)
                    return False
                c.row = fresh
                return True
            c.row.update(values)
            self.counters["credential_renewals"] += 1
            log.info("credential %d of %s: access token renewed (expires in %.0f s)",
                     c.id, c.row["user"], lifetime_s)
            return True
