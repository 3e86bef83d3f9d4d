"""A verified token's claims -> the local user it acts as (docs/identity.md).

The issuer's `user_claim` names the user: its `users` table maps the value to a local
account, else (with `passwd_lookup`) the value is a user name in the system's user
database. A token without that claim (the client-credentials grant: a service
account) acts as the user its `client_id` has in the issuer's `clients` table, and
is refused when the client is not listed. No token acts as root.
"""

from __future__ import annotations

import pwd
import time
from typing import Any

from corral.config import IssuerConfig, MappedUser
from corral.model.errors import PermissionDenied
from corral.services.identity import Caller, RolePolicy, caller_from_claims

ACCOUNT_TTL_S = 30.0
MAX_CLAIM_ITEMS = 256
# user name -> (when looked up, monotonic; uid, gid)
_accounts: dict[str, tuple[float, tuple[int, int] | None]] = {}


def _account(name: str) -> tuple[int, int] | None:
    now = time.monotonic()
    known = _accounts.get(name)
    if known is not None and now - known[0] < ACCOUNT_TTL_S:
        return known[1]
    if len(_accounts) > 10_000:
        _accounts.clear()
    try:
        pw = pwd.getpwnam(name)
        found: tuple[int, int] | None = (pw.pw_uid, pw.pw_gid)
    except KeyError:
        found = None
    _accounts[name] = (now, found)
    return found


def _strings(value: Any) -> tuple[str, ...]:
    """A claim of groups: a list of strings (or one string, or a space-separated
    one as some providers send)."""
    if isinstance(value, str):
        return tuple(value.split())[:MAX_CLAIM_ITEMS]
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))[:MAX_CLAIM_ITEMS]
    return ()


def _resolve(local: str | MappedUser, said: str) -> tuple[str, int, int]:
    if isinstance(local, MappedUser) and local.uid is not None:
        return local.user, local.uid, local.gid if local.gid is not None else local.uid
    name = local.user if isinstance(local, MappedUser) else local
    found = _account(name)
    if found is None:
        raise PermissionDenied(f"token user {said!r}: no local user {name!r} on the "
                               f"controller's host")
    uid, gid = found
    return name, uid, local.gid if isinstance(local, MappedUser) and local.gid is not None \
        else gid


def local_user(cfg: IssuerConfig, claims: dict[str, Any]) -> tuple[str, int, int]:
    """-> (user name, uid, gid) that these claims act as."""
    claimed = claims.get(cfg.user_claim)
    local: str | MappedUser | None
    if isinstance(claimed, str) and claimed:
        said = claimed
        local = cfg.users.get(said)
        if local is None:
            if not cfg.passwd_lookup:
                raise PermissionDenied(f"token user {said[:100]!r} is not in the issuer's "
                                       f"users table")
            local = said
    else:
        client = claims.get("client_id", claims.get("azp"))
        said = client if isinstance(client, str) else ""
        local = cfg.clients.get(said) if said else None
        if local is None:
            raise PermissionDenied(f"token has no {cfg.user_claim!r} claim and its client "
                                   f"{str(client)[:100]!r} is not a service account of "
                                   f"the issuer (auth.issuers.clients)")
    user, uid, gid = _resolve(local, said)
    if uid == 0:
        raise PermissionDenied(f"token user {said[:100]!r} maps to root; no token acts "
                               f"as root")
    return user, uid, gid


def caller_for_claims(cfg: IssuerConfig, claims: dict[str, Any], policy: RolePolicy) -> Caller:
    """The caller a verified token acts as: its local user, that user's Unix groups
    and the token's `groups_claim`, the role of the configuration and of the
    token's role claim ([roles].claim)."""
    user, uid, gid = local_user(cfg, claims)
    return caller_from_claims(uid=uid, user=user, gid=gid, claims=claims, policy=policy,
                              subject=str(claims.get("sub", ""))[:256], issuer=cfg.issuer,
                              groups=_strings(claims.get(cfg.groups_claim)))
