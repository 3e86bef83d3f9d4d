"""Fair-share over an account tree (Slurm's classic formula, sched.fairshare)."""

from __future__ import annotations

import math

from corral.sched.fairshare import ShareNode, tree_fairshare


def test_shares_split_down_the_tree_and_usage_adds_up() -> None:
    nodes = [ShareNode("root", "", None, 1), ShareNode("physics", "", "root", 40),
             ShareNode("chem", "", "root", 60), ShareNode("physics", "alice", "physics", 1),
             ShareNode("physics", "bob", "physics", 3), ShareNode("chem", "carol", "chem", 1)]
    rows = tree_fairshare(nodes, {("physics", "alice"): 30.0, ("physics", "bob"): 10.0,
                                  ("chem", "carol"): 60.0, ("chem", "dave"): 0.0})
    assert rows[("root", "")].norm_shares == 1.0 and rows[("root", "")].raw_usage == 100.0
    assert math.isclose(rows[("physics", "alice")].norm_shares, 0.1)
    assert math.isclose(rows[("physics", "bob")].norm_shares, 0.3)
    assert rows[("physics", "")].raw_usage == 40.0
    alice = rows[("physics", "alice")]
    assert math.isclose(alice.effective_usage, 0.3)
    assert math.isclose(alice.fairshare, 2 ** (-0.3 / 0.1))
    # under its share scores higher than over it; no usage scores 1
    assert rows[("physics", "bob")].fairshare > alice.fairshare
    assert math.isclose(rows[("chem", "carol")].fairshare, 2 ** (-0.6 / 0.6))


def test_no_usage_and_zero_shares() -> None:
    nodes = [ShareNode("root", "", None, 1), ShareNode("a", "", "root", 0),
             ShareNode("b", "", "root", 5)]
    rows = tree_fairshare(nodes, {})
    assert rows[("b", "")].fairshare == 1.0 and rows[("b", "")].norm_shares == 1.0
    assert rows[("a", "")].fairshare == 0.0  # no share at all: last


def test_the_cycle_uses_the_tree_factor_of_the_jobs_association() -> None:
    from corral.sched import FCFS, PriorityWeights, Snapshot, run_cycle
    from corral.sched.types import Limits
    from tests.sched.helpers import node, pend, snap

    pending = [pend(1, t_submit=0, account="physics", user="alice"),
               pend(2, t_submit=1, account="physics", user="bob"),
               pend(3, t_submit=2, account="elsewhere", user="carol")]
    s = snap([node("a", 1)], [], pending)
    s = Snapshot(s.nodes, s.running, s.pending, s.partitions,
                 assoc_fairshare={("physics", "alice"): 0.1, ("physics", "bob"): 0.9,
                                  ("physics", ""): 0.5},
                 usage_cpu_s={"elsewhere": 1.0}, shares={"elsewhere": 1.0})
    w = PriorityWeights(age=1.0, fairshare=1000.0)
    d = run_cycle(s, FCFS(weights=w), now=10)
    assert [x.job_id for x in d.starts] == [2]  # bob's association is the least served
    prio = {i.job_id: i.priority for i in d.pending.values()}
    assert prio[3] > prio[1]  # carol's account is not in the tree: its flat factor, 0.5
    # running-job limit of an association
    s = Snapshot(s.nodes, s.running, (pending[0], pend(4, account="physics", user="alice")),
                 s.partitions, limits=Limits(assoc_max_jobs={("alice", "physics"): 0}))
    d = run_cycle(s, FCFS(), now=10)
    assert not d.starts and d.pending[1].reason == "AssocMaxJobsLimit"
