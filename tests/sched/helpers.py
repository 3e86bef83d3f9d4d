"""Builders for small snapshots."""

from __future__ import annotations

from corral.sched import NodeView, PartitionView, PendingView, RunningView, Snapshot


def node(
    name: str,
    cpus: int = 4,
    mem_mb: int = 8000,
    gpus: int = 0,
    features: str = "",
    used: tuple[int, int, int] = (0, 0, 0),
    available: bool = True,
) -> NodeView:
    return NodeView(
        name,
        cpus,
        mem_mb,
        gpus,
        frozenset(f for f in features.split(",") if f),
        cpus - used[0],
        mem_mb - used[1],
        gpus - used[2],
        available,
    )


def pend(
    job_id: int,
    nodes: int = 1,
    cpus: int = 1,
    limit_s: float = 100.0,
    t_submit: float = 0.0,
    mem_mb: int = 0,
    gpus: int = 0,
    **kw: object,
) -> PendingView:
    return PendingView(
        job_id=job_id,
        user=str(kw.pop("user", "u")),
        account=kw.pop("account", None),  # type: ignore[arg-type]
        partition=str(kw.pop("partition", "p")),
        nodes=nodes,
        cpus_per_node=cpus,
        mem_mb_per_node=mem_mb,
        gpus_per_node=gpus,
        time_limit_s=limit_s,
        t_submit=t_submit,
        **kw,
    )  # type: ignore[arg-type]


def run(
    job_id: int, nodes: tuple[str, ...], cpus: int, t_end: float, mem_mb: int = 0, gpus: int = 0
) -> RunningView:
    return RunningView(job_id, nodes, cpus, mem_mb, gpus, 0.0, t_end)


def snap(
    nodes: list[NodeView],
    running: list[RunningView],
    pending: list[PendingView],
    max_time_s: float = 0.0,
) -> Snapshot:
    part = PartitionView("p", frozenset(n.name for n in nodes), max_time_s)
    return Snapshot(tuple(nodes), tuple(running), tuple(pending), {"p": part})
