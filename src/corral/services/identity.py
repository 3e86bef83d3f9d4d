"""Who is asking: a uid (from the socket's peer credentials or a token) and its name."""

from __future__ import annotations

import pwd
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    uid: int
    user: str
    gid: int
    is_admin: bool

    def may_act_on(self, owner_uid: int) -> bool:
        return self.is_admin or self.uid == owner_uid


# uid -> (when looked up, monotonic; the caller): the user database is read once
# per CALLER_TTL_S per uid, not for every request
CALLER_TTL_S = 30.0
_callers: dict[tuple[int, int], tuple[float, Caller]] = {}


def caller_from_uid(uid: int, admin_uid: int) -> Caller:
    now = time.monotonic()
    known = _callers.get((uid, admin_uid))
    if known is not None and now - known[0] < CALLER_TTL_S:
        return known[1]
    if len(_callers) > 10_000:
        _callers.clear()
    caller = _lookup(uid, admin_uid)
    _callers[(uid, admin_uid)] = (now, caller)
    return caller


def _lookup(uid: int, admin_uid: int) -> Caller:
    try:
        pw = pwd.getpwuid(uid)
        name, gid = pw.pw_name, pw.pw_gid
    except KeyError:
        name, gid = str(uid), uid
    return Caller(uid=uid, user=name, gid=gid, is_admin=uid in (0, admin_uid))

