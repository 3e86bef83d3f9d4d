"""A node's deadline (a pilot's end, docs/pilots.md): the core never starts a job there
whose time limit reaches past it."""

from __future__ import annotations

import math

from corral.sched import EASY
from corral.sched.cycle import run_cycle
from corral.sched.types import NodeView, PartitionView, PendingView, Reason, Snapshot

NOW = 1000.0


def node(name: str, deadline: float = math.inf) -> NodeView:
    return NodeView(name, 2, 1000, 0, frozenset(), 2, 1000, 0, True, t_deadline=deadline)


def job(job_id: int, limit_s: float) -> PendingView:
    return PendingView(job_id=job_id, user="u", account=None, partition="p", nodes=1,
                       cpus_per_node=1, mem_mb_per_node=0, gpus_per_node=0,
                       time_limit_s=limit_s, t_submit=NOW - job_id)


def snapshot(nodes: list[NodeView], pending: list[PendingView]) -> Snapshot:
    names = frozenset(n.name for n in nodes)
    return Snapshot(nodes=tuple(nodes), running=(), pending=tuple(pending),
                    partitions={"p": PartitionView("p", names, math.inf)})


def test_jobs_start_only_on_nodes_that_outlive_their_time_limit() -> None:
    nodes = [node("short", NOW + 100), node("long", NOW + 1000)]
    d = run_cycle(snapshot(nodes, [job(1, 500), job(2, 50), job(3, 90)]),
                  EASY(), NOW)
    placed = {s.job_id: s.nodes for s in d.starts}
    assert placed[1] == ("long",)
    assert set(placed) == {1, 2, 3}
    assert all(placed[j] in (("short",), ("long",)) for j in (2, 3))


def test_a_job_longer_than_every_pilot_waits_with_its_reason() -> None:
    nodes = [node("pilot", NOW + 100)]
    d = run_cycle(snapshot(nodes, [job(1, 200), job(2, 0), job(3, 100)]),
                  EASY(), NOW)
    assert [s.job_id for s in d.starts] == [3]  # exactly as long as it has left
    assert d.pending[1].reason == Reason.NODE_DEADLINE
    assert d.pending[2].reason == Reason.NODE_DEADLINE  # unlimited: never on a pilot
    # a node without a deadline takes them
    d = run_cycle(snapshot([*nodes, node("static")], [job(1, 200), job(2, 0)]),
                  EASY(), NOW)
    assert {s.job_id: s.nodes for s in d.starts} == {1: ("static",), 2: ("static",)}
