"""Which of a node's GPU devices a job gets (docs/resources.md, GPUs).

A job asking for N GPUs of a node gets N free device indices, all of one NUMA
domain when one has that many free (the fullest such domain, so that domains with
many free GPUs stay whole for larger jobs), else the domains with the most free
GPUs first. Without the GPUs' domains, the lowest free indices.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

UNKNOWN = -1  # a GPU whose NUMA domain nobody told


def choose(gpus: int, used: Collection[int], count: int,
           numa: Sequence[int] = ()) -> tuple[int, ...]:
    """`count` of the indices 0..gpus-1 not in `used` (fewer if fewer are free);
    numa: each GPU's domain by index (empty: unknown)."""
    free = [i for i in range(gpus) if i not in used]
    if count <= 0:
        return ()
    if len(numa) != gpus:
        return tuple(free[:count])
    by_domain: dict[int, list[int]] = {}
    for i in free:
        by_domain.setdefault(numa[i], []).append(i)
    fitting = [d for d, ids in by_domain.items() if d != UNKNOWN and len(ids) >= count]
    if fitting:
        best = min(fitting, key=lambda d: (len(by_domain[d]), d))
        return tuple(by_domain[best][:count])
    out: list[int] = []
    for d in sorted(by_domain, key=lambda d: (d == UNKNOWN, -len(by_domain[d]), d)):
        out += by_domain[d][:count - len(out)]
    return tuple(sorted(out))


def near_domains(gpu_ids: Sequence[int], numa: Sequence[int]) -> frozenset[int]:
    """The NUMA domains of these GPUs (those known)."""
    return frozenset(numa[i] for i in gpu_ids if 0 <= i < len(numa) and numa[i] != UNKNOWN)
