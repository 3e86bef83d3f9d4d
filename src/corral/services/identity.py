"""Who is asking: a uid (from the socket's peer credentials or a token) and its name."""

from __future__ import annotations

import pwd
from dataclasses import dataclass

from corral.model.errors import InvalidRequest, PermissionDenied


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


def resolve_owner(caller: Caller, user: str | None) -> Caller:
    """The owner of a submission: the caller, or (for an administrator) another user."""
    if user is None or user in (caller.user, str(caller.uid)):
        return caller
    if not caller.is_admin:
        raise PermissionDenied(f"user: only an administrator may submit as {user!r}")
    try:
        pw = pwd.getpwnam(user) if not user.isdigit() else pwd.getpwuid(int(user))
    except KeyError:
        raise InvalidRequest(f"user: no such user {user!r}") from None
    return Caller(uid=pw.pw_uid, user=pw.pw_name, gid=pw.pw_gid, is_admin=False)
