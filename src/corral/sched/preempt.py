"""Preemption: stop lower-tier running jobs so a blocked higher-tier job starts.

A running job may be preempted when it is marked `preemptible` and its
partition's priority tier is lower than the waiting job's. At most one waiting
job preempts per cycle (the first blocked one, in priority order, that can be
made to fit). Victims are picked lowest tier first, then most recently started
(least work lost), then the set is pruned to what is needed. The preemptor
starts in a later cycle, once the victims are gone (the caller requeues or
cancels them).
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.sched.node_machine import NodeMachine
from corral.sched.request import Req
from corral.sched.types import NodeView, RunningView, Snapshot


def _machine(
    s: Snapshot,
    now: float,
    started: Sequence[tuple[Req, tuple[str, ...]]],
    victims: Sequence[RunningView],
) -> NodeMachine:
    free = {n.name: [n.cpus_free, n.mem_mb_free, n.gpus_free] for n in s.nodes}
    caps = {n.name: (n.cpus, n.mem_mb, n.gpus) for n in s.nodes}
    for req, names in started:
        for name in names:
            need = caps[name] if req.exclusive else (req.cpus, req.mem_mb, req.gpus)
            for k in range(3):
                free[name][k] -= need[k]
    gone = {v.job_id for v in victims}
    for v in victims:
        for name in v.nodes:
            if name not in free:
                continue
            if v.exclusive:
                free[name] = list(caps[name])
            else:
                held = (v.cpus_per_node, v.mem_mb_per_node, v.gpus_per_node)
                for k in range(3):
                    free[name][k] += held[k]
    nodes = [
        NodeView(
            n.name,
            n.cpus,
            n.mem_mb,
            n.gpus,
            n.features,
            free[n.name][0],
            free[n.name][1],
            free[n.name][2],
            n.available,
        )
        for n in s.nodes
    ]
    releases: list[tuple[tuple[str, ...], float, tuple[int, int, int] | None]] = [
        (
            r.nodes,
            r.t_expected_end,
            None if r.exclusive else (r.cpus_per_node, r.mem_mb_per_node, r.gpus_per_node),
        )
        for r in s.running
        if r.job_id not in gone
    ]
    releases += [
        (names, now + req.dur_s, None if req.exclusive else (req.cpus, req.mem_mb, req.gpus))
        for req, names in started
    ]
    blocks = [(r.nodes, r.t_start, r.t_end, r.name) for r in s.reservations]
    return NodeMachine(nodes, releases, now, blocks)


def plan_preemption(
    s: Snapshot,
    now: float,
    blocked: Sequence[tuple[Req, int]],
    started: Sequence[tuple[Req, tuple[str, ...]]],
    qos_of: dict[int, str | None] | None = None,
) -> tuple[int, tuple[int, ...]] | None:
    """`blocked`: waiting jobs that did not start, in priority order, with the
    priority tier of their partition; `qos_of`: their QOS. A running job is a
    candidate when it is preemptible and of a lower tier, or when its QOS is one
    the waiting job's QOS may preempt. Returns (preemptor, victims) or None."""
    tier_of = {p.name: p.priority_tier for p in s.partitions.values()}
    running_tier = {
        r.job_id: min(
            (tier_of[p.name] for p in s.partitions.values() if set(r.nodes) <= p.nodes), default=0
        )
        if r.priority_tier is None
        else r.priority_tier
        for r in s.running
    }
    for req, tier in blocked:
        rights = s.qos_preempts.get((qos_of or {}).get(req.job_id) or "", frozenset())
        cands = [r for r in s.running
                 if (r.preemptible and running_tier[r.job_id] < tier)
                 or (r.qos is not None and r.qos in rights)]
        if not cands:
            continue
        cands.sort(key=lambda r: (running_tier[r.job_id], -r.t_start, r.job_id))
        chosen: list[RunningView] = []
        for r in cands:
            chosen.append(r)
            if _machine(s, now, started, chosen).try_start(req) is not None:
                break
        else:
            continue
        for r in list(reversed(chosen[:-1])):  # keep only what is needed
            trial = [v for v in chosen if v is not r]
            if _machine(s, now, started, trial).try_start(req) is not None:
                chosen = trial
        return req.job_id, tuple(sorted(v.job_id for v in chosen))
    return None
