"""will_run: when and where a job would start if submitted now (sbatch --test-only)."""

from __future__ import annotations

from corral.sched import EASY
from corral.sched.will_run import will_run

from .helpers import node, pend, run, snap


def test_free_nodes_start_now_busy_ones_when_their_jobs_end() -> None:
    nodes = [node("n1", 4, used=(4, 0, 0)), node("n2", 4, used=(2, 0, 0))]
    running = [run(8, ("n1",), 4, t_end=100), run(9, ("n2",), 2, t_end=300)]
    s = snap(nodes, running, [pend(1, cpus=4, limit_s=10)])  # pending jobs: not counted
    assert will_run(s, EASY(), pend(99, cpus=2), now=5) == (5, ("n2",))
    assert will_run(s, EASY(), pend(99, cpus=4), now=5) == (100, ("n1",))
    assert will_run(s, EASY(), pend(99, nodes=2, cpus=4), now=5) == (300, ("n1", "n2"))
    assert will_run(s, EASY(), pend(99, cpus=2, t_begin=50.0), now=5) == (50, ("n2",))


def test_never_when_no_node_could_hold_it() -> None:
    s = snap([node("n1", 4)], [], [])
    assert will_run(s, EASY(), pend(99, cpus=8), now=0) is None
    assert will_run(s, EASY(), pend(99, partition="nosuch"), now=0) is None
