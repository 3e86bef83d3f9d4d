"""Generic resources per node in the scheduler core (sched/gres.py, node machine)."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.sched import (
    EASY,
    FCFS,
    Conservative,
    NodeView,
    PartitionView,
    Policy,
    RunningView,
    Snapshot,
    run_cycle,
)
from corral.sched.gres import GresLedger, intersect
from corral.sched.types import Reason, Start
from corral.sched.will_run import will_run

from .helpers import node, pend, run, snap

NVME = (("nvme", 1),)


def _gres(n, total, free=None):  # type: ignore[no-untyped-def]
    return dataclasses.replace(n, gres=total, gres_free=free if free is not None else total)


def test_a_job_waits_for_the_only_free_nvme_and_others_pass_it() -> None:
    nodes = [_gres(node("n1", cpus=8), NVME), node("n2", cpus=8)]
    jobs = [pend(1, gres_per_node=NVME), pend(2, t_submit=1, gres_per_node=NVME),
            pend(3, t_submit=2)]
    d = run_cycle(snap(nodes, [], jobs), EASY(), now=10.0)
    starts = {st.job_id: st.nodes for st in d.starts}
    assert starts[1] == ("n1",) and 2 not in starts and 3 in starts
    assert d.pending[2].reason == Reason.RESOURCES
    assert d.pending[2].t_expected_start == 110.0  # when job 1's limit ends


def test_held_by_a_running_job_and_released_at_its_end() -> None:
    nodes = [_gres(node("n1", cpus=8), (("fpga:xilinx", 2),), (("fpga:xilinx", 0),))]
    held = dataclasses.replace(run(9, ("n1",), 1, 500.0), gres_per_node=(("fpga:xilinx", 2),))
    job = pend(1, gres_per_node=(("fpga:xilinx", 1),))
    s = snap(nodes, [held], [job])
    d = run_cycle(s, EASY(), now=10.0)
    assert not d.starts and d.pending[1].reason == Reason.RESOURCES
    assert d.pending[1].t_expected_start == 500.0
    assert will_run(s, EASY(), job, 10.0) == (500.0, ("n1",))


def test_no_node_has_it_or_enough_of_it() -> None:
    nodes = [_gres(node("n1"), NVME)]
    for asks in ((("fpga", 1),), (("nvme", 2),)):
        d = run_cycle(snap(nodes, [], [pend(1, gres_per_node=asks)]), EASY(), now=0.0)
        assert not d.starts and d.pending[1].reason == Reason.PARTITION_NODE_LIMIT


def test_backfill_does_not_delay_the_waiting_gres_job() -> None:
    nodes = [_gres(node("n1", cpus=4), NVME, (("nvme", 0),))]
    held = dataclasses.replace(run(9, ("n1",), 1, 100.0), gres_per_node=NVME)
    jobs = [pend(1, gres_per_node=NVME, limit_s=50),  # first in line: at 100
            pend(2, t_submit=1, gres_per_node=NVME, limit_s=10),  # would take it
            pend(3, t_submit=2, limit_s=1000)]  # no gres: runs now
    d = run_cycle(snap(nodes, [held], jobs), EASY(), now=0.0)
    assert [st.job_id for st in d.starts] == [3]
    assert d.pending[1].t_expected_start == 100.0


def test_ledger_intervals() -> None:
    g = GresLedger((("nvme", 2),), (("nvme", 1),))
    g.rel.append((50.0, (("nvme", 1),)))
    g.book((("nvme", 2),), 100.0, 200.0)
    assert g.feasible_starts((("nvme", 1),), 10.0, 0.0) == [(0.0, 90.0), (200.0, float("inf"))]
    assert g.feasible_starts((("nvme", 2),), 10.0, 0.0) == [(50.0, 90.0),
                                                            (200.0, float("inf"))]
    assert intersect([(0.0, 5.0), (8.0, 9.0)], [(4.0, 8.5)]) == [(4.0, 5.0), (8.0, 8.5)]
    assert g.has((("nvme", 2),)) and not g.has((("nvme", 3),))


@st.composite
def gres_snapshots(draw: st.DrawFn) -> Snapshot:
    nodes, running = [], []
    for i in range(draw(st.integers(1, 4))):
        nvme = draw(st.integers(0, 2))
        held = draw(st.integers(0, nvme))
        name = f"n{i}"
        nodes.append(NodeView(name, 4, 8000, 0, frozenset(), 4 - held, 8000, 0, True,
                              gres=(("nvme", nvme),) if nvme else (),
                              gres_free=(("nvme", nvme - held),) if nvme else ()))
        if held:
            end = draw(st.sampled_from([10.0, 50.0, 100.0, math.inf]))
            running.append(RunningView(100 + i, (name,), held, 0, 0, 0.0, end,
                                       gres_per_node=(("nvme", held),)))
    pending = []
    for jid in range(1, draw(st.integers(1, 8)) + 1):
        asks = draw(st.integers(0, 2))
        pending.append(pend(jid, cpus=draw(st.integers(1, 2)), t_submit=float(jid),
                            limit_s=draw(st.sampled_from([5.0, 40.0, 100.0, 250.0])),
                            gres_per_node=(("nvme", asks),) if asks else ()))
    part = PartitionView("p", frozenset(n.name for n in nodes), 0.0)
    return Snapshot(tuple(nodes), tuple(running), tuple(pending), {"p": part})


def _after(s: Snapshot, starts: list[Start]) -> Snapshot:
    """The snapshot once the starts run (until now + their limit)."""
    byid = {p.job_id: p for p in s.pending}
    cpus = {n.name: n.cpus_free for n in s.nodes}
    nvme = {n.name: dict(n.gres_free).get("nvme", 0) for n in s.nodes}
    running = list(s.running)
    for x in starts:
        p = byid.pop(x.job_id)
        asks = dict(p.gres_per_node).get("nvme", 0)
        for name in x.nodes:
            cpus[name] -= p.cpus_per_node
            nvme[name] -= asks
        running.append(RunningView(x.job_id, x.nodes, p.cpus_per_node, 0, 0, 0.0,
                                   p.time_limit_s, gres_per_node=p.gres_per_node))
    nodes = tuple(dataclasses.replace(n, cpus_free=cpus[n.name], gres_free=(
        (("nvme", nvme[n.name]),) if n.gres else ())) for n in s.nodes)
    return Snapshot(nodes, tuple(running), tuple(byid.values()), s.partitions)


@settings(max_examples=200, deadline=None)
@given(gres_snapshots(), st.sampled_from([FCFS, EASY, Conservative]))
def test_never_hands_out_more_than_a_node_has(s: Snapshot, policy: type[Policy]) -> None:
    d = run_cycle(s, policy(), now=0.0)
    after = _after(s, list(d.starts))
    for n in after.nodes:
        assert n.cpus_free >= 0 and all(c >= 0 for _, c in n.gres_free), n
    for x in d.starts:  # only on nodes that have what it asks
        p = next(p for p in s.pending if p.job_id == x.job_id)
        for name in x.nodes:
            have = dict(next(n for n in s.nodes if n.name == name).gres)
            assert all(have.get(k, 0) >= c for k, c in p.gres_per_node)


@settings(max_examples=200, deadline=None)
@given(gres_snapshots())
def test_backfill_never_delays_the_head(s: Snapshot) -> None:
    d = run_cycle(s, EASY(), now=0.0)
    head = [i for i in d.pending.values() if i.reason == Reason.RESOURCES]
    if not head or head[0].t_expected_start is None:
        return
    again = run_cycle(_after(s, list(d.starts)), EASY(), 0.0)
    t_again = again.pending[head[0].job_id].t_expected_start
    assert t_again is not None and t_again <= head[0].t_expected_start
