"""Fair-share: how far an account (or user) is below or above its share.

Slurm's classic factor F = 2^(-U/S), in [0, 1]: U is the entity's fraction of
all recorded usage, S its fraction of all shares. F = 1 with no usage, 0.5 when
usage equals the share, toward 0 when far above it. The caller keeps usage
(CPU-seconds, decayed with `decay_usage`) and passes it in the snapshot.

With an account tree (`tree_fairshare`, the site's associations), S is the
node's normalized share: its share among its siblings times its parent's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K")


def decay_usage(usage: dict[K, float], dt_s: float, half_life_s: float) -> dict[K, float]:
    """Usage after `dt_s` seconds of exponential decay with the given half-life."""
    if half_life_s <= 0 or dt_s <= 0:
        return dict(usage)
    f = 0.5 ** (dt_s / half_life_s)
    return {k: v * f for k, v in usage.items()}


def fairshare_factors(usage: dict[str, float], shares: dict[str, float]) -> dict[str, float]:
    """Factor per entity named in `usage` or `shares`. Without any shares every
    entity gets an equal one; an entity missing from `shares` gets the smallest
    positive share given (so it is never infinitely favored)."""
    names = set(usage) | set(shares)
    if not names:
        return {}
    positive = [s for s in shares.values() if s > 0]
    default = min(positive) if positive else 1.0
    share = {n: shares.get(n, default) if shares.get(n, 0) > 0 else default for n in names}
    total_share = sum(share.values())
    total_usage = sum(max(0.0, usage.get(n, 0.0)) for n in names)
    out = {}
    for n in names:
        u = max(0.0, usage.get(n, 0.0)) / total_usage if total_usage > 0 else 0.0
        s = share[n] / total_share
        out[n] = math.pow(2.0, -u / s)
    return out


@dataclass(frozen=True, slots=True)
class ShareNode:
    """An account (user "") or a user's association in the account tree."""

    account: str
    user: str
    parent: str | None  # the parent account; a user's: its account; root's: None
    shares: float


@dataclass(frozen=True, slots=True)
class ShareRow:
    """Slurm's sshare columns for one node of the tree."""

    account: str
    user: str
    raw_shares: float
    norm_shares: float  # its fraction of the cluster: its share among its siblings,
    # times its parent's
    raw_usage: float  # decayed CPU-seconds of it (an account: of all below it)
    effective_usage: float  # raw usage / the whole tree's
    fairshare: float  # 2^(-effective usage / norm shares)


def tree_fairshare(nodes: Iterable[ShareNode],
                   usage: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], ShareRow]:
    """Slurm's classic fair-share over an account tree, keyed (account, user).

    `usage` is keyed (account, user); usage of an account outside the tree counts
    toward nobody's. Siblings (an account's sub-accounts and users together) split
    their parent's share by their raw shares."""
    items = list(nodes)
    kids: dict[str, list[ShareNode]] = {}
    for n in items:
        if n.parent is not None:
            kids.setdefault(n.parent, []).append(n)
    own: dict[str, float] = {}
    for (account, _user), v in usage.items():
        own[account] = own.get(account, 0.0) + max(0.0, v)

    def subtree_usage(account: str, seen: frozenset[str]) -> float:
        if account in seen:
            return 0.0
        total = own.get(account, 0.0)
        for k in kids.get(account, []):
            if not k.user:
                total += subtree_usage(k.account, seen | {account})
        return total

    raw: dict[tuple[str, str], float] = {}
    for n in items:
        raw[(n.account, n.user)] = (max(0.0, usage.get((n.account, n.user), 0.0)) if n.user
                                    else subtree_usage(n.account, frozenset()))
    norm: dict[tuple[str, str], float] = {}

    def descend(account: str, share: float, depth: int) -> None:
        siblings = kids.get(account, [])
        total = sum(max(0.0, s.shares) for s in siblings)
        for s in siblings:
            key = (s.account, s.user)
            norm[key] = share * max(0.0, s.shares) / total if total > 0 else 0.0
            if not s.user and depth < len(items):
                descend(s.account, norm[key], depth + 1)

    roots = [n for n in items if n.parent is None]
    for r in roots:
        norm[(r.account, "")] = 1.0
        descend(r.account, 1.0, 0)
    whole = sum(raw.get((r.account, ""), 0.0) for r in roots)
    out: dict[tuple[str, str], ShareRow] = {}
    for n in items:
        key = (n.account, n.user)
        ns = norm.get(key, 0.0)
        eff = raw[key] / whole if whole > 0 else 0.0
        fs = math.pow(2.0, -eff / ns) if ns > 0 else 0.0
        out[key] = ShareRow(n.account, n.user, n.shares, ns, raw[key], eff, fs)
    return out
