"""Property tests on the pure core (Hypothesis)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.sched import (
    EASY,
    FCFS,
    Conservative,
    EasyPlusPlus,
    NodeView,
    PartitionView,
    PendingView,
    Policy,
    Req,
    RunningView,
    Snapshot,
    run_cycle,
    run_cycle_counts,
)
from corral.sched.constraint import matches

FEATURES = ["a", "b", "c"]
POLICIES = [FCFS, EASY, Conservative, EasyPlusPlus]


@st.composite
def snapshots(draw: st.DrawFn, one_cpu_nodes: bool = False) -> Snapshot:
    n_nodes = draw(st.integers(1, 6))
    caps = []
    for i in range(n_nodes):
        cpus = 1 if one_cpu_nodes else draw(st.integers(1, 8))
        mem = 0 if one_cpu_nodes else draw(st.sampled_from([1000, 4000, 8000]))
        gpus = 0 if one_cpu_nodes else draw(st.integers(0, 2))
        feats = (
            frozenset()
            if one_cpu_nodes
            else frozenset(draw(st.lists(st.sampled_from(FEATURES), max_size=2)))
        )
        avail = True if one_cpu_nodes else draw(st.booleans() | st.just(True))
        caps.append([f"n{i}", cpus, mem, gpus, feats, avail, cpus, mem, gpus])
    running = []
    for jid in range(1000, 1000 + draw(st.integers(0, 6))):
        k = draw(st.integers(1, n_nodes))
        idx = draw(st.permutations(range(n_nodes)))[:k]
        c = draw(st.integers(1, 4))
        m = 0 if one_cpu_nodes else draw(st.sampled_from([0, 500, 2000]))
        g = 0 if one_cpu_nodes else draw(st.integers(0, 1))
        if all(caps[i][6] >= c and caps[i][7] >= m and caps[i][8] >= g for i in idx):
            for i in idx:
                caps[i][6] -= c
                caps[i][7] -= m
                caps[i][8] -= g
            end = draw(st.sampled_from([10.0, 50.0, 100.0, 300.0, math.inf]))
            running.append(RunningView(jid, tuple(caps[i][0] for i in idx), c, m, g, 0.0, end))
    nodes = tuple(NodeView(n, c, m, g, f, fc, fm, fg, a) for n, c, m, g, f, a, fc, fm, fg in caps)
    pending = []
    for jid in range(1, draw(st.integers(0, 10)) + 1):
        pending.append(
            PendingView(
                job_id=jid,
                user=draw(st.sampled_from(["u", "v"])),
                account=None,
                partition="p",
                nodes=draw(st.integers(1, 3)),
                cpus_per_node=1 if one_cpu_nodes else draw(st.integers(1, 4)),
                mem_mb_per_node=0 if one_cpu_nodes else draw(st.sampled_from([0, 1000, 3000])),
                gpus_per_node=0 if one_cpu_nodes else draw(st.integers(0, 1)),
                time_limit_s=draw(st.sampled_from([5.0, 40.0, 100.0, 250.0, 1000.0])),
                t_submit=float(jid),
                constraint=None
                if one_cpu_nodes
                else draw(st.sampled_from([None, "a", "a|b", "!c"])),
                exclusive=False if one_cpu_nodes else draw(st.booleans() | st.just(False)),
            )
        )
    part = PartitionView("p", frozenset(n.name for n in nodes), 0.0)
    return Snapshot(nodes, tuple(running), tuple(pending), {"p": part})


def _apply(s: Snapshot, starts: list[tuple[int, tuple[str, ...]]], now: float) -> Snapshot:
    """The snapshot after the starts: started jobs run until now + their limit."""
    byid = {p.job_id: p for p in s.pending}
    free = {n.name: [n.cpus_free, n.mem_mb_free, n.gpus_free] for n in s.nodes}
    caps = {n.name: n for n in s.nodes}
    running = list(s.running)
    for jid, names in starts:
        p = byid.pop(jid)
        for name in names:
            n = caps[name]
            need = (
                (n.cpus, n.mem_mb, n.gpus)
                if p.exclusive
                else (p.cpus_per_node, p.mem_mb_per_node, p.gpus_per_node)
            )
            for k in range(3):
                free[name][k] -= need[k]
        c, m, g = (p.cpus_per_node, p.mem_mb_per_node, p.gpus_per_node)
        if p.exclusive:
            n0 = caps[names[0]]
            c, m, g = n0.cpus, n0.mem_mb, n0.gpus
        running.append(
            RunningView(jid, names, c, m, g, now, now + p.time_limit_s, exclusive=p.exclusive)
        )
    nodes = tuple(
        NodeView(n.name, n.cpus, n.mem_mb, n.gpus, n.features, *free[n.name], n.available)
        for n in s.nodes
    )
    pending = tuple(p for p in s.pending if p.job_id in byid)
    return Snapshot(nodes, tuple(running), pending, s.partitions)


@settings(max_examples=150, deadline=None)
@given(snapshots(), st.sampled_from(POLICIES))
def test_never_over_allocates_and_matches(s: Snapshot, policy: type[Policy]) -> None:
    d = run_cycle(s, policy(), now=0.0)
    after = _apply(s, [(x.job_id, x.nodes) for x in d.starts], 0.0)
    byid = {p.job_id: p for p in s.pending}
    for n in after.nodes:
        assert n.cpus_free >= 0 and n.mem_mb_free >= 0 and n.gpus_free >= 0, n
    for x in d.starts:
        p = byid[x.job_id]
        assert len(x.nodes) == len(set(x.nodes)) == p.nodes
        for name in x.nodes:
            node = next(n for n in s.nodes if n.name == name)
            assert node.available and matches(p.constraint, node.features)
    assert set(d.pending) | {x.job_id for x in d.starts} == set(byid)
    assert not set(d.pending) & {x.job_id for x in d.starts}


@settings(max_examples=150, deadline=None)
@given(snapshots(), st.sampled_from(POLICIES))
def test_same_inputs_same_decisions(s: Snapshot, policy: type[Policy]) -> None:
    assert run_cycle(s, policy(), now=0.0) == run_cycle(s, policy(), now=0.0)


@settings(max_examples=200, deadline=None)
@given(snapshots(), st.sampled_from([EASY, EasyPlusPlus]))
def test_easy_never_delays_the_head(s: Snapshot, policy: type[Policy]) -> None:
    d = run_cycle(s, policy(), now=0.0)
    head = [i for i in d.pending.values() if i.reason == "Resources"]
    if not head or head[0].t_expected_start is None:
        return
    t_head = head[0].t_expected_start
    hid = head[0].job_id
    t_sub = next(p.t_submit for p in s.pending if p.job_id == hid)
    ahead = {p.job_id for p in s.pending if p.t_submit < t_sub}
    before = _apply(s, [(x.job_id, x.nodes) for x in d.starts if x.job_id in ahead], 0.0)
    alone = Snapshot(
        before.nodes,
        before.running,
        tuple(p for p in before.pending if p.job_id == hid),
        s.partitions,
    )
    assert run_cycle(alone, policy(), now=0.0).pending[hid].t_expected_start == t_head
    # once the backfilled jobs run, the head's reservation is no later
    again = run_cycle(_apply(s, [(x.job_id, x.nodes) for x in d.starts], 0.0), policy(), 0.0)
    t_again = again.pending[head[0].job_id].t_expected_start
    assert t_again is not None and t_again <= t_head


@settings(max_examples=200, deadline=None)
@given(snapshots())
def test_conservative_later_jobs_never_delay_earlier_ones(s: Snapshot) -> None:
    d = run_cycle(s, Conservative(), now=0.0)
    started = {x.job_id for x in d.starts}
    order = sorted(s.pending, key=lambda p: (p.t_submit, p.job_id))
    for cut in range(1, len(order) + 1):
        prefix = Snapshot(s.nodes, s.running, tuple(order[:cut]), s.partitions)
        dp = run_cycle(prefix, Conservative(), now=0.0)
        last = order[cut - 1].job_id
        if last in started:
            assert any(x.job_id == last for x in dp.starts)
        elif d.pending[last].reason in ("Resources", "Priority"):
            assert dp.pending[last].t_expected_start == d.pending[last].t_expected_start


@settings(max_examples=200, deadline=None)
@given(snapshots(one_cpu_nodes=True), st.sampled_from([FCFS, EASY, Conservative]))
def test_count_fast_path_agrees_with_node_machine(s: Snapshot, policy: type[Policy]) -> None:
    """One-CPU nodes are a processor count: both machines start the same jobs."""
    d = run_cycle(s, policy(), now=0.0)
    ends = sorted(
        (r.t_expected_end, len(r.nodes)) for r in s.running if r.t_expected_end < math.inf
    )
    free = sum(n.cpus_free for n in s.nodes)
    queue = [
        Req(p.job_id, p.nodes, p.time_limit_s, p.t_submit, p.user)
        for p in s.pending
        if p.nodes <= len(s.nodes)
    ]
    fast = run_cycle_counts(len(s.nodes), free, ends, queue, policy(), 0.0)
    assert [r.job_id for r in fast] == [x.job_id for x in d.starts]


@settings(max_examples=150, deadline=None)
@given(snapshots(), st.sampled_from(POLICIES), st.data())
def test_no_job_enters_a_foreign_reservation(
    s: Snapshot, policy: type[Policy], data: st.DataObject
) -> None:
    from corral.sched import ReservationView

    names = sorted(n.name for n in s.nodes)
    resv_nodes = frozenset(data.draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
    t0 = data.draw(st.sampled_from([0.0, 20.0, 60.0]))
    r = ReservationView("r", resv_nodes, t0, t0 + 200.0)
    s = Snapshot(s.nodes, s.running, s.pending, s.partitions, reservations=(r,))
    d = run_cycle(s, policy(), now=0.0)
    byid = {p.job_id: p for p in s.pending}
    for x in d.starts:
        if set(x.nodes) & resv_nodes:
            assert byid[x.job_id].time_limit_s <= t0  # ends before the window opens
    for info in d.pending.values():
        t = info.t_expected_start
        if t is not None and info.reason in ("Resources", "Priority"):
            assert t >= 0.0
