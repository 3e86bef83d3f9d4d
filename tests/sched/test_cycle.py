from __future__ import annotations

import math

from corral.sched import EASY, FCFS, Conservative, EasyPlusPlus, Reason, run_cycle

from .helpers import node, pend, run, snap


def test_fcfs_starts_in_order_and_stops_at_first_blocked() -> None:
    nodes = [node("n1", 4), node("n2", 4)]
    s = snap(
        nodes, [], [pend(1, cpus=4), pend(2, nodes=2, cpus=4, t_submit=1), pend(3, t_submit=2)]
    )
    d = run_cycle(s, FCFS(), now=10)
    assert [x.job_id for x in d.starts] == [1]
    assert d.pending[2].reason == Reason.RESOURCES
    assert d.pending[2].t_expected_start == 110  # when job 1 ends
    assert d.pending[3].reason == Reason.PRIORITY
    assert d.pending[3].t_expected_start == 210  # after job 2 (both nodes)


def test_easy_backfills_short_job_but_not_long_one() -> None:
    nodes = [node("n1", 4, used=(4, 0, 0)), node("n2", 4)]
    running = [run(9, ("n1",), 4, t_end=100)]
    pending = [
        pend(1, nodes=2, cpus=4, limit_s=50, t_submit=0),
        pend(2, cpus=2, limit_s=200, t_submit=1),  # would delay job 1
        pend(3, cpus=2, limit_s=90, t_submit=2),
    ]  # ends at 90 < 100
    d = run_cycle(snap(nodes, running, pending), EASY(), now=0)
    assert [(x.job_id, x.nodes) for x in d.starts] == [(3, ("n2",))]
    assert d.pending[1].reason == Reason.RESOURCES and d.pending[1].t_expected_start == 100
    assert d.pending[2].reason == Reason.PRIORITY


def test_easy_extra_nodes_rule() -> None:
    # head needs 1 node at t=100; n2, n3 free now; a long job may use the spare node
    nodes = [node("n1", 4, used=(4, 0, 0)), node("n2", 4), node("n3", 4)]
    running = [run(9, ("n1",), 4, t_end=100)]
    pending = [pend(1, nodes=3, cpus=4, t_submit=0), pend(2, cpus=4, limit_s=1000, t_submit=1)]
    d = run_cycle(snap(nodes, running, pending), EASY(), now=0)
    assert d.starts == ()  # head needs all three nodes at t=100
    pending = [pend(1, nodes=2, cpus=4, t_submit=0), pend(2, cpus=4, limit_s=1000, t_submit=1)]
    d = run_cycle(snap(nodes, running, pending), EASY(), now=0)
    assert [x.job_id for x in d.starts] == [1]


def test_memory_gpus_and_features_are_matched() -> None:
    nodes = [
        node("a", 8, 1000, 0, "avx512,eth"),
        node("b", 8, 64000, 2, "avx512,ib"),
        node("c", 8, 64000, 2, "old,ib"),
    ]
    pending = [
        pend(1, mem_mb=2000, t_submit=0),
        pend(2, gpus=1, constraint="avx512&(ib|eth)", t_submit=1),
        pend(3, constraint="!avx512", t_submit=2),
        pend(4, constraint="avx512&eth", t_submit=3),
    ]
    d = run_cycle(snap(nodes, [], pending), EASY(), now=0)
    got = {x.job_id: x.nodes for x in d.starts}
    assert got == {1: ("b",), 2: ("b",), 3: ("c",), 4: ("a",)}


def test_reasons() -> None:
    nodes = [node("a", 4), node("b", 4, available=False)]
    pending = [
        pend(1, held=True),
        pend(2, t_begin=50.0),
        pend(3, limit_s=10_000),
        pend(4, nodes=3),
        pend(5, nodes=2),
        pend(6, constraint="a&|"),
        pend(7, partition="nope"),
    ]
    d = run_cycle(snap(nodes, [], pending, max_time_s=3600), FCFS(), now=0)
    reasons = {k: v.reason for k, v in d.pending.items()}
    assert reasons == {
        1: Reason.HELD,
        2: Reason.BEGIN_TIME,
        3: Reason.PARTITION_TIME_LIMIT,
        4: Reason.PARTITION_NODE_LIMIT,
        5: Reason.NODES_UNAVAILABLE,
        6: Reason.BAD_CONSTRAINTS,
        7: Reason.NO_PARTITION,
    }
    assert d.pending[2].t_expected_start == 50.0


def test_exclusive_needs_an_idle_node() -> None:
    nodes = [node("a", 4, used=(1, 0, 0)), node("b", 4)]
    running = [run(9, ("a",), 1, t_end=30)]
    d = run_cycle(
        snap(nodes, running, [pend(1, exclusive=True), pend(2, t_submit=1)]), EASY(), now=0
    )
    assert {x.job_id: x.nodes for x in d.starts} == {1: ("b",), 2: ("a",)}


def test_conservative_reserves_everyone() -> None:
    nodes = [node("a", 4, used=(4, 0, 0))]
    running = [run(9, ("a",), 4, t_end=100)]
    pending = [
        pend(1, cpus=4, limit_s=50),
        pend(2, cpus=2, limit_s=10, t_submit=1),
        pend(3, cpus=2, limit_s=500, t_submit=2),
    ]
    d = run_cycle(snap(nodes, running, pending), Conservative(), now=0)
    assert d.starts == ()
    assert [d.pending[i].t_expected_start for i in (1, 2, 3)] == [100, 150, 150]


def test_unlimited_job_has_no_expected_start_behind_it() -> None:
    nodes = [node("a", 4, used=(4, 0, 0))]
    running = [run(9, ("a",), 4, t_end=math.inf)]
    d = run_cycle(snap(nodes, running, [pend(1)]), EASY(), now=0)
    assert d.pending[1].reason == Reason.RESOURCES and d.pending[1].t_expected_start is None


def test_priority_admin_and_nice() -> None:
    nodes = [node("a", 1)]
    pending = [pend(1, t_submit=0), pend(2, t_submit=5, admin_priority=10)]
    d = run_cycle(snap(nodes, [], pending), FCFS(), now=10)
    assert [x.job_id for x in d.starts] == [2]
    assert d.pending[1].priority < 1000.0


def test_easy_plus_plus_uses_history() -> None:
    nodes = [node("a", 4, used=(4, 0, 0)), node("b", 4)]
    running = [run(9, ("a",), 4, t_end=100)]
    pending = [pend(1, nodes=2, cpus=4), pend(2, cpus=4, limit_s=1000, t_submit=1, user="v")]
    pol = EasyPlusPlus()
    assert run_cycle(snap(nodes, running, pending), pol, now=0).starts == ()
    pol.record_finish("v", 20)
    pol.record_finish("v", 40)
    d = run_cycle(snap(nodes, running, pending), pol, now=0)
    assert [x.job_id for x in d.starts] == [2]


def test_fairshare_orders_the_under_served_account_first() -> None:
    from corral.sched import PriorityWeights, Snapshot
    from corral.sched.fairshare import decay_usage, fairshare_factors

    f = fairshare_factors({"a": 900.0, "b": 100.0}, {"a": 1.0, "b": 1.0})
    assert f["b"] > 0.5 > f["a"] and fairshare_factors({}, {"a": 1.0}) == {"a": 1.0}
    assert decay_usage({"a": 8.0}, 20.0, 10.0) == {"a": 2.0}
    nodes = [node("a", 1)]
    pending = [pend(1, t_submit=0, account="heavy"), pend(2, t_submit=1, account="light")]
    s = snap(nodes, [], pending)
    s = Snapshot(
        s.nodes,
        s.running,
        s.pending,
        s.partitions,
        usage_cpu_s={"heavy": 1e6, "light": 10.0},
        shares={"heavy": 1, "light": 1},
    )
    w = PriorityWeights(age=1.0, fairshare=1000.0)
    d = run_cycle(s, FCFS(weights=w), now=10)
    assert [x.job_id for x in d.starts] == [2]
    assert run_cycle(s, FCFS(), now=10).starts[0].job_id == 1  # no fair-share weight


def test_qos_factor() -> None:
    from corral.sched import PriorityWeights, Snapshot

    nodes = [node("a", 1)]
    s = snap(nodes, [], [pend(1, t_submit=0, qos="normal"), pend(2, t_submit=1, qos="high")])
    s = Snapshot(
        s.nodes, s.running, s.pending, s.partitions, qos_priority={"normal": 10, "high": 100}
    )
    d = run_cycle(s, EASY(weights=PriorityWeights(age=1.0, qos=100.0)), now=5)
    assert [x.job_id for x in d.starts] == [2]
    assert d.pending[1].priority < 100.0


def test_advance_reservation() -> None:
    from corral.sched import ReservationView, Snapshot

    nodes = [node("a", 4), node("b", 4)]
    maint = ReservationView("maint", frozenset({"b"}), 100.0, 200.0, users=frozenset({"ops"}))
    pending = [
        pend(1, nodes=2, cpus=4, limit_s=50),  # fits before the window on both nodes
        pend(2, cpus=4, limit_s=150, t_submit=1),  # would overlap the window on b
        pend(3, cpus=4, limit_s=50, t_submit=2, reservation="maint", user="ops"),
        pend(4, cpus=1, limit_s=10, t_submit=3, reservation="maint", user="eve"),
        pend(5, cpus=1, limit_s=500, t_submit=4, reservation="maint", user="ops"),
    ]
    s = snap(nodes, [], pending)
    s = Snapshot(s.nodes, s.running, s.pending, s.partitions, reservations=(maint,))
    d = run_cycle(s, EASY(), now=0)
    assert [(x.job_id, x.nodes) for x in d.starts] == [(1, ("a", "b"))]
    assert d.pending[2].t_expected_start == 50  # on a, after job 1
    assert d.pending[3].reason == Reason.RESERVATION and d.pending[3].t_expected_start == 100
    assert d.pending[4].reason == Reason.BAD_RESERVATION
    assert d.pending[5].reason == Reason.BAD_RESERVATION  # longer than the window
    d = run_cycle(s, Conservative(), now=120)
    assert [(x.job_id, x.nodes) for x in d.starts] == [(3, ("b",))]
    assert d.pending[1].t_expected_start == 200  # b is set aside until 200
    assert d.pending[2].t_expected_start == 250  # a is booked by job 1 from 200 to 250


def test_preemption_of_lower_tier_jobs() -> None:
    from corral.sched import PartitionView, RunningView, Snapshot

    nodes = [node("a", 4, used=(4, 0, 0)), node("b", 4, used=(4, 0, 0))]
    low = PartitionView("low", frozenset({"a", "b"}), 0.0, priority_tier=0)
    high = PartitionView("high", frozenset({"a", "b"}), 0.0, priority_tier=1)
    running = (
        RunningView(7, ("a",), 4, 0, 0, 0.0, 1000.0, preemptible=True),
        RunningView(8, ("b",), 4, 0, 0, 50.0, 1000.0, preemptible=True),
    )
    s = Snapshot(
        tuple(nodes), running, (pend(1, cpus=4, partition="high"),), {"low": low, "high": high}
    )
    assert run_cycle(s, EASY(), now=60).preempt == ()  # off by default
    d = run_cycle(s, EASY(preemption=True), now=60)
    assert d.preempt == (8,)  # the most recently started one is enough
    assert d.pending[1].reason == Reason.PREEMPTING
    s2 = Snapshot(
        tuple(nodes), running, (pend(1, cpus=4, partition="low"),), {"low": low, "high": high}
    )
    assert run_cycle(s2, EASY(preemption=True), now=60).preempt == ()  # same tier
    s3 = Snapshot(
        tuple(nodes),
        running,
        (pend(1, nodes=2, cpus=4, partition="high"),),
        {"low": low, "high": high},
    )
    assert run_cycle(s3, Conservative(preemption=True), now=60).preempt == (7, 8)


def test_preemption_by_qos_rights() -> None:
    from corral.sched import PartitionView, RunningView, Snapshot

    nodes = [node("a", 4, used=(4, 0, 0))]
    part = PartitionView("p", frozenset({"a"}), 0.0)
    running = (RunningView(7, ("a",), 4, 0, 0, 0.0, 1000.0, qos="normal"),)
    rights = {"urgent": frozenset({"normal"})}

    def cycle(qos: str | None) -> tuple[int, ...]:
        s = Snapshot(tuple(nodes), running, (pend(1, cpus=4, qos=qos),), {"p": part},
                     qos_preempts=rights)
        return run_cycle(s, EASY(preemption=True), now=60).preempt

    assert cycle("urgent") == (7,)  # same tier, not marked preemptible: the QOS decides
    assert cycle("normal") == ()  # no rights over its own QOS
    assert cycle(None) == ()


def test_limits_admit_in_priority_order_and_name_the_limit() -> None:
    from corral.sched import Limits, PartitionView, RunningView, Snapshot

    part = PartitionView("p", frozenset({"a"}), 0.0)
    running = (RunningView(7, ("a",), 1, 0, 0, 0.0, 1000.0, user="u"),)
    pending = (pend(1, user="u"), pend(2, user="u"), pend(3, user="v"),
               pend(4, user="v", cpus=3, qos="small"))
    s = Snapshot((node("a", 8, used=(1, 0, 0)),), running, pending, {"p": part},
                 limits=Limits(max_jobs_per_user=2, qos_max_cpus_per_user={"small": 2}))
    d = run_cycle(s, EASY(), now=0)
    assert sorted(x.job_id for x in d.starts) == [1, 3]  # u: 7 runs, so one more
    assert d.pending[2].reason == "MaxJobsPerUser"
    assert d.pending[4].reason == "QOSMaxCpuPerUserLimit"
    assert run_cycle(Snapshot(s.nodes, running, pending, {"p": part}), EASY(), now=0).starts


def test_empty_shapes_never_start() -> None:
    d = run_cycle(snap([node("a")], [], [pend(1, nodes=0), pend(2, cpus=0)]), EASY(), now=0)
    assert d.starts == () and {i.reason for i in d.pending.values()} == {
        Reason.PARTITION_NODE_LIMIT
    }


def test_conservative_reservation_budget() -> None:
    nodes = [node("a", 4, used=(4, 0, 0)), node("b", 4)]
    running = [run(9, ("a",), 4, t_end=100)]
    pending = [
        pend(1, nodes=2, cpus=4, limit_s=50),
        pend(2, cpus=4, limit_s=500, t_submit=1),
        pend(3, cpus=4, limit_s=90, t_submit=2),
    ]
    full = run_cycle(snap(nodes, running, pending), Conservative(), now=0)
    assert [x.job_id for x in full.starts] == [3]
    assert full.pending[2].t_expected_start == 150
    capped = run_cycle(snap(nodes, running, pending), Conservative(max_reservations=1), now=0)
    assert [x.job_id for x in capped.starts] == [3]  # fits around job 1's reservation
    assert capped.pending[2].t_expected_start is None


def test_unlimited_job_starts_on_an_idle_node() -> None:
    # a partition without a time limit and a job without one: nothing may stop it
    for policy in (FCFS(), EASY(), Conservative(), EasyPlusPlus()):
        d = run_cycle(snap([node("a", 4)], [], [pend(1, limit_s=math.inf)]), policy, now=0)
        assert [(x.job_id, x.nodes) for x in d.starts] == [(1, ("a",))], policy.name
        d = run_cycle(snap([node("a", 4)], [], [pend(1, limit_s=0)]), policy, now=0)
        assert [x.job_id for x in d.starts] == [1], policy.name


def test_unlimited_job_is_not_backfilled_past_a_reservation() -> None:
    # the head job waits for b (busy until 100) and a; an unlimited job would hold a
    # for ever, so it may not start there, while a short one may
    nodes = [node("a", 4), node("b", 4, used=(4, 0, 0))]
    running = [run(9, ("b",), 4, t_end=100)]
    pending = [pend(1, nodes=2, cpus=4, limit_s=50),
               pend(2, cpus=4, limit_s=math.inf, t_submit=1),
               pend(3, cpus=4, limit_s=60, t_submit=2)]
    d = run_cycle(snap(nodes, running, pending), EASY(), now=0)
    assert [(x.job_id, x.nodes) for x in d.starts] == [(3, ("a",))]
    assert d.pending[1].t_expected_start == 100
    assert d.pending[2].reason == Reason.PRIORITY


def test_unlimited_job_does_not_start_before_an_advance_reservation() -> None:
    from corral.sched import ReservationView, Snapshot

    maint = ReservationView("maint", frozenset({"a"}), 100.0, 200.0)
    s = snap([node("a", 4)], [], [pend(1, limit_s=math.inf)])
    s = Snapshot(s.nodes, s.running, s.pending, s.partitions, reservations=(maint,))
    d = run_cycle(s, EASY(), now=0)
    assert d.starts == () and d.pending[1].t_expected_start == 200  # after it


def test_required_and_excluded_nodes() -> None:
    nodes = [node("a", 4), node("b", 4), node("c", 4, used=(4, 0, 0))]
    running = [run(9, ("c",), 4, t_end=100)]
    pending = [
        pend(1, excluded_nodes=frozenset({"a"})),  # b, not a (first in node order)
        pend(2, nodes=2, required_nodes=frozenset({"c"}), t_submit=1),  # waits for c
        pend(3, required_nodes=frozenset({"a"}), t_submit=2),
        pend(4, excluded_nodes=frozenset({"a", "b", "c"}), t_submit=3),  # nowhere to go
    ]
    for policy in (FCFS(), EASY(), Conservative()):
        d = run_cycle(snap(nodes, running, pending), policy, now=0)
        starts = {x.job_id: x.nodes for x in d.starts}
        assert starts.get(1) == ("b",), policy.name
        assert 2 not in starts and d.pending[2].reason == Reason.RESOURCES, policy.name
        assert d.pending[2].t_expected_start == 100
        assert d.pending[4].reason == Reason.PARTITION_NODE_LIMIT
        if policy.name != "fcfs":
            assert starts.get(3) == ("a",), policy.name
    # at 100, job 2 gets c and one more node
    d = run_cycle(snap([node("a", 4), node("b", 4), node("c", 4)], [], pending[1:2]),
                  EASY(), now=100)
    assert len(d.starts) == 1 and "c" in d.starts[0].nodes and len(d.starts[0].nodes) == 2


def test_a_required_node_that_is_down_is_named_as_the_reason() -> None:
    nodes = [node("a", 4), node("b", 4, available=False)]
    d = run_cycle(snap(nodes, [], [pend(1, required_nodes=frozenset({"b"}))]), EASY(), now=0)
    assert d.starts == () and d.pending[1].reason == Reason.NODES_UNAVAILABLE


def test_a_reservation_leaves_the_nodes_freed_earlier_to_later_jobs() -> None:
    """Five one-CPU nodes: jobs 1 (5 s) and 2 (3 nodes, 40 s) start; 3 (3 nodes)
    is booked at 40 on the nodes job 2 frees, not on job 1's node, so that 4 (2
    nodes, 40 s) is booked at 5 on job 1's node and the idle one, and 5 may not
    take that idle node now (as on a processor count)."""
    nodes = [node(f"n{i}", 1) for i in range(5)]
    pending = [pend(1, limit_s=5, t_submit=1), pend(2, nodes=3, limit_s=40, t_submit=2),
               pend(3, nodes=3, limit_s=5, t_submit=3), pend(4, nodes=2, limit_s=40, t_submit=4),
               pend(5, limit_s=40, t_submit=5)]
    d = run_cycle(snap(nodes, [], pending), Conservative(), now=0.0)
    assert [x.job_id for x in d.starts] == [1, 2]
    assert d.pending[3].t_expected_start == 40.0
    assert d.pending[4].t_expected_start == 5.0
