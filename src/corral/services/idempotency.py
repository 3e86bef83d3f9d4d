"""Idempotent submission: a retry with the same key returns the job the key made.

A client that loses its connection after the controller committed its job cannot
know the job's id; retrying a plain submit would queue the job twice. With an
idempotency key (REST: the `Idempotency-Key` header or the `idempotency_key`
field) the first submission stores (uid, key) -> job in the same transaction as
the job itself, so a retry by the same user — even after a controller restart —
gets the same ids back. The store is asked for the key in the transaction that
would queue the job (no read of its own before it); a retry refused by the checks
(a limit or a node changed since the first try) looks the key up before saying no.
The same key with a different request is refused (409).
Keys are per user: two users' keys never meet.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral.model.errors import Conflict, CorralError, InvalidRequest
from corral.model.job import JobSpec
from corral.services.identity import Caller
from corral.services.runtime import AlreadySubmitted
from corral.store.submit_keys import lookup_key

if TYPE_CHECKING:
    from corral.services.controller import Controller

KEY_MAX_LEN = 255
_KEY = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces
RECENT_MAX = 10_000  # keys answered from memory, without a store read
RECENT_MAX_IDS = 1_000  # bigger arrays are looked up in the store on a retry


@dataclass(frozen=True, slots=True)
class SubmitKey:
    key: str
    digest: str  # of the request: the same key must come with the same request


def check_key(key: str) -> None:
    if not 1 <= len(key) <= KEY_MAX_LEN or not _KEY.match(key):
        shown = key if len(key) <= 40 else key[:40] + "…"
        raise InvalidRequest(f"idempotency_key: {shown!r} must be 1 to {KEY_MAX_LEN} "
                             "printable ASCII characters without spaces")


def request_digest(spec: JobSpec, user: str | None) -> str:
    """What the same key must come with again: the request, less its environment
    (a command run again from a shell rarely sees the very same one)."""
    d = spec.to_dict()
    del d["environment"]
    text = json.dumps({"spec": d, "user": user}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class IdempotentSubmit:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self._busy: dict[tuple[int, str], asyncio.Event] = {}  # keys being submitted
        self._recent: OrderedDict[tuple[int, str], tuple[str, list[int]]] = OrderedDict()

    async def submit(self, caller: Caller, spec: JobSpec, user: str | None,
                     key: str) -> tuple[list[int], bool]:
        """The job ids and whether they are an earlier submission's (a replay)."""
        check_key(key)
        digest = request_digest(spec, user)
        k = (caller.uid, key)
        while (busy := self._busy.get(k)) is not None:  # the same key, in flight
            await busy.wait()
        done = self._recent.get(k)
        if done is not None:
            return self._replay(key, digest, done), True
        event = asyncio.Event()
        self._busy[k] = event
        try:
            try:  # the store is asked for the key in the transaction that would queue
                ids = await self.ctl.submit(caller, spec, user, key=SubmitKey(key, digest))
            except AlreadySubmitted as e:  # e.g. the first answer was lost, or before
                found = e.found  # a restart
            except CorralError:  # refused now: is it the retry of one accepted before
                found = await self.ctl.writer.read(  # (a limit, a node since changed)?
                    lambda c: lookup_key(c, caller.uid, key))
                if found is None:
                    raise
            else:
                self._remember(k, (digest, ids))
                return ids, False
            self._remember(k, found)
            return self._replay(key, digest, found), True
        finally:
            del self._busy[k]
            event.set()

    @staticmethod
    def _replay(key: str, digest: str, done: tuple[str, list[int]]) -> list[int]:
        if done[0] != digest:
            raise Conflict(f"idempotency_key: {key!r} was used for job {done[1][0]}, "
                           "with a different request")
        return list(done[1])

    def _remember(self, k: tuple[int, str], done: tuple[str, list[int]]) -> None:
        if len(done[1]) > RECENT_MAX_IDS:
            return
        self._recent[k] = done
        self._recent.move_to_end(k)
        while len(self._recent) > RECENT_MAX:
            self._recent.popitem(last=False)
