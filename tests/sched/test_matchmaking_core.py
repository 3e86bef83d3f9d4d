"""The core's side of matchmaking: it receives each job's eligible nodes and ranks
(evaluated by the controller) and honours them."""

from __future__ import annotations

from corral.sched import EASY, Reason, run_cycle
from tests.sched.helpers import node, pend, snap

NODES = [node("a", cpus=4), node("b", cpus=8), node("c", cpus=16)]


def test_the_best_ranked_node_that_fits_is_chosen() -> None:
    job = pend(1, node_rank=(("a", 1.0), ("b", 5.0), ("c", 3.0)))
    d = run_cycle(snap(NODES, [], [job]), EASY(), now=0)
    assert d.starts[0].nodes == ("b",)
    # a node it ranks highest but that cannot hold it is passed over
    job = pend(1, cpus=6, node_rank=(("a", 9.0), ("b", 1.0), ("c", 5.0)))
    d = run_cycle(snap(NODES, [], [job]), EASY(), now=0)
    assert d.starts[0].nodes == ("c",)
    # two nodes: the two best ranked, best first
    job = pend(1, nodes=2, node_rank=(("a", 3.0), ("b", 1.0), ("c", 2.0)))
    d = run_cycle(snap(NODES, [], [job]), EASY(), now=0)
    assert d.starts[0].nodes == ("a", "c")
    # without a rank: the machine's own order (the first node)
    d = run_cycle(snap(NODES, [], [pend(1)]), EASY(), now=0)
    assert d.starts[0].nodes == ("a",)


def test_only_eligible_nodes_are_used() -> None:
    job = pend(1, eligible_nodes=frozenset({"c"}))
    d = run_cycle(snap(NODES, [], [job]), EASY(), now=0)
    assert d.starts[0].nodes == ("c",)
    job = pend(1, nodes=2, eligible_nodes=frozenset({"c"}))
    d = run_cycle(snap(NODES, [], [job]), EASY(), now=0)
    assert not d.starts and d.pending[1].reason == Reason.PARTITION_NODE_LIMIT
    job = pend(1, eligible_nodes=frozenset())
    d = run_cycle(snap(NODES, [], [job]), EASY(), now=0)
    assert not d.starts and d.pending[1].reason == Reason.BAD_CONSTRAINTS
