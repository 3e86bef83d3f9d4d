"""Who is asking: a uid (from the socket's peer credentials or a token) and its name."""

from __future__ import annotations

import pwd
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    uid: int
    user: str
    gid: int
    is_admin: bool

    def may_act_on(self, owner_uid: int) -> bool:
        return self.is_admin or self.uid == owner_uid


def caller_from_uid(uid: int, admin_uid: int) -> Caller:
    try:
        pw = pwd.getpwuid(uid)
        name, gid = pw.pw_name, pw.pw_gid
    except KeyError:
        name, gid = str(uid), uid
    return Caller(uid=uid, user=name, gid=gid, is_admin=uid in (0, admin_uid))

