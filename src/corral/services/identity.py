"""Who is asking: a uid (from the socket's peer credentials or a token), its name,
its groups and its role (model/roles.py).

A caller's role is the highest of: the configuration's `[roles]` (by user name or
Unix group), uid 0 and the controller's own uid (administrators), and, for a token,
the role names in its configured claim (`caller_from_claims`)."""

from __future__ import annotations

import grp
import os
import pwd
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from corral.config import RolesConfig
from corral.model.roles import Role


@dataclass(frozen=True, slots=True)
class Caller:
    uid: int
    user: str
    gid: int
    role: Role = Role.USER
    groups: tuple[str, ...] = ()
    # a token's subject and issuer (None: the Unix socket's peer credentials)
    subject: str | None = None
    issuer: str | None = None
    # the login host's relay that spoke for this uid (services/relays.py)
    relay: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.ADMIN

    @property
    def is_operator(self) -> bool:
        """An operator or an administrator."""
        return self.role >= Role.OPERATOR

    def may_act_on(self, owner_uid: int) -> bool:
        """Owner or administrator (reading a job's private fields)."""
        return self.is_admin or self.uid == owner_uid

    def describe(self) -> str:
        """Who, as the audit trail and messages name them."""
        how = (f"token of {self.subject} from {self.issuer}" if self.subject is not None
               else f"uid {self.uid} via relay {self.relay}" if self.relay is not None
               else f"uid {self.uid} via socket")
        return f"{self.user} ({self.role}; {how})"


@dataclass(frozen=True, slots=True)
class RolePolicy:
    """The configuration's roles, in the form the lookups use."""
    admin_uids: frozenset[int] = frozenset({0})
    operators: frozenset[str] = frozenset()
    operator_groups: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()
    admin_groups: frozenset[str] = frozenset()
    claim: str = "roles"

    @classmethod
    def of(cls, cfg: RolesConfig, admin_uid: int | None = None) -> RolePolicy:
        """The policy of `[roles]`; `admin_uid`: the controller's uid (default: ours)."""
        return cls(admin_uids=frozenset({0, os.getuid() if admin_uid is None else admin_uid}),
                   operators=frozenset(cfg.operators),
                   operator_groups=frozenset(cfg.operator_groups),
                   admins=frozenset(cfg.admins), admin_groups=frozenset(cfg.admin_groups),
                   claim=cfg.claim)

    def role_of(self, uid: int | None, user: str, groups: Iterable[str]) -> Role:
        """The role the configuration gives (uid None: not a local uid's caller)."""
        gs = set(groups)
        if (uid is not None and uid in self.admin_uids) or user in self.admins \
                or gs & self.admin_groups:
            return Role.ADMIN
        if user in self.operators or gs & self.operator_groups:
            return Role.OPERATOR
        return Role.USER

    def role_from_claims(self, claims: Mapping[str, Any]) -> Role:
        """The highest role named in the token's configured claim (a list of names, a
        space-separated string, or one name; `a.b` reaches into nested objects).
        Names that are not roles are ignored: a token's other roles are not ours."""
        value: Any = claims
        for part in self.claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        names: list[Any]
        if isinstance(value, str):
            names = value.split()
        elif isinstance(value, list | tuple):
            names = list(value)
        else:
            names = []
        roles = [r for r in (Role.parse(n) for n in names if isinstance(n, str)) if r]
        return max(roles, default=Role.USER)


# (uid, policy) -> (when looked up, monotonic; the caller): the user and group
# databases are read once per CALLER_TTL_S per uid, not for every request
CALLER_TTL_S = 30.0
_callers: dict[tuple[int, RolePolicy], tuple[float, Caller]] = {}


def caller_from_uid(uid: int, policy: RolePolicy) -> Caller:
    """The caller behind a local uid (the Unix socket's peer)."""
    now = time.monotonic()
    known = _callers.get((uid, policy))
    if known is not None and now - known[0] < CALLER_TTL_S:
        return known[1]
    if len(_callers) > 10_000:
        _callers.clear()
    caller = _lookup(uid, policy)
    _callers[(uid, policy)] = (now, caller)
    return caller


def caller_from_claims(*, uid: int, user: str, gid: int, claims: Mapping[str, Any],
                       policy: RolePolicy, subject: str, issuer: str,
                       groups: Iterable[str] = ()) -> Caller:
    """The caller behind a validated token mapped to a local identity: its role is
    the highest of the configuration's (by name, Unix groups and `groups` from the
    token) and the token's role claim."""
    all_groups = tuple(sorted(set(unix_groups(user, gid)) | set(groups)))
    role = max(policy.role_of(uid, user, all_groups), policy.role_from_claims(claims))
    return Caller(uid=uid, user=user, gid=gid, role=role, groups=all_groups,
                  subject=subject, issuer=issuer)


def unix_groups(user: str, gid: int) -> tuple[str, ...]:
    """The names of the user's Unix groups (primary and supplementary)."""
    try:
        gids = os.getgrouplist(user, gid)
    except OSError:  # (an unknown user: only the primary group)
        gids = [gid]
    names = []
    for g in gids:
        try:
            names.append(grp.getgrgid(g).gr_name)
        except KeyError:
            names.append(str(g))
    return tuple(sorted(set(names)))


def local_caller(uid: int, user: str, gid: int, policy: RolePolicy) -> Caller:
    """A local user's caller with their groups and configured role."""
    groups = unix_groups(user, gid)
    return Caller(uid=uid, user=user, gid=gid, role=policy.role_of(uid, user, groups),
                  groups=groups)


def _lookup(uid: int, policy: RolePolicy) -> Caller:
    try:
        pw = pwd.getpwuid(uid)
        name, gid = pw.pw_name, pw.pw_gid
    except KeyError:
        return Caller(uid=uid, user=str(uid), gid=uid,
                      role=policy.role_of(uid, str(uid), ()))
    return local_caller(uid, name, gid, policy)
