"""Generic resources of the nodes as the site configures them (`[[nodes]] gres`), the
submit-time check of a job's request, and what running jobs hold (model/gres.py,
sched/gres.py, docs/resources.md)."""

from __future__ import annotations

from corral.config import Config
from corral.model.errors import Infeasible
from corral.model.gres import Gres, format_gres, parse_gres
from corral.model.job import Job
from corral.model.node import Node


def node_gres(cfg: Config) -> dict[str, dict[str, int]]:
    """node -> its generic resources by name, as configured."""
    return {n.name: dict(n.gres) for n in cfg.nodes if n.gres}


def of_job(job: Job) -> Gres:
    return parse_gres(job.spec.gres) if job.spec.gres else ()


def having(need: Gres, part: str, members: list[Node]) -> list[Node]:
    """The partition's nodes that have the generic resources asked; none: refused,
    naming the first one no node has enough of and what the nodes have."""
    out = [n for n in members if all(n.gres.get(k, 0) >= c for k, c in need)]
    if out:
        return out
    for name, count in need:
        most = max((n.gres.get(name, 0) for n in members), default=0)
        if most < count:
            present = sorted({f"{k}:{v}" for n in members for k, v in n.gres.items()})
            if most == 0:
                raise Infeasible(f"gres: asks {name}:{count}; no node of partition {part!r} "
                                 f"has {name} (have: {', '.join(present) or 'none'})")
            raise Infeasible(f"gres: asks {name}:{count} per node; the most a node of "
                             f"partition {part!r} has is {most}")
    raise Infeasible(f"gres: asks {format_gres(need)}; no node of partition {part!r} has "
                     "all of them")


def hold(node: Node, need: Gres, sign: int) -> None:
    for name, count in need:
        left = node.gres_used.get(name, 0) + sign * count
        if left:
            node.gres_used[name] = left
        else:
            node.gres_used.pop(name, None)


def free(node: Node) -> Gres:
    return tuple((k, v - node.gres_used.get(k, 0)) for k, v in sorted(node.gres.items()))



def waiting_line(need: Gres, nodes: list[Node]) -> str | None:
    """Which generic resources a job waits for, on the nodes that have them:
    'nvme: asks 1 per node; free: node1 0 of 1'; None when none is short."""
    short = []
    for name, count in need:
        having_it = [n for n in nodes if n.gres.get(name, 0) >= count]
        if any(n.gres[name] - n.gres_used.get(name, 0) >= count for n in having_it):
            continue
        free = ", ".join(f"{n.name} {n.gres[name] - n.gres_used.get(name, 0)} of "
                         f"{n.gres[name]}" for n in having_it[:5])
        short.append(f"{name}: asks {count} per node; free: {free or 'no node has it'}")
    if not short:
        return None
    return (f"It waits for generic resources ({'; '.join(short)}); it starts when running "
            "jobs give them back.")
