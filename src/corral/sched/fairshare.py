"""Fair-share: how far an account (or user) is below or above its share.

Slurm's classic factor F = 2^(-U/S), in [0, 1]: U is the entity's fraction of
all recorded usage, S its fraction of all shares. F = 1 with no usage, 0.5 when
usage equals the share, toward 0 when far above it. The caller keeps usage
(CPU-seconds, decayed with `decay_usage`) and passes it in the snapshot.
"""

from __future__ import annotations

import math


def decay_usage(usage: dict[str, float], dt_s: float, half_life_s: float) -> dict[str, float]:
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
