"""CPU ids chosen by the scheduler core on nodes with a reported topology
(NodeView.cpu_layout; corral.model.placement), and core-type eligibility."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from corral.model.topology import Cpu, Topology
from corral.sched import (
    EASY,
    FCFS,
    Conservative,
    NodeView,
    Policy,
    RunningView,
    Snapshot,
    run_cycle,
)
from corral.sched.types import Reason, Start

from .helpers import node, pend, run, snap


def hybrid(perf_cores: int, eff_cores: int, threads: int = 1, numa: int = 1) -> Topology:
    """Performance cores first (each `threads` threads), then one-thread efficiency
    cores; cores split evenly over `numa` domains in id order."""
    cpus: list[Cpu] = []
    cores = perf_cores + eff_cores
    for core in range(cores):
        kind = "performance" if core < perf_cores else "efficiency"
        for _ in range(threads if kind == "performance" else 1):
            cpus.append(Cpu(len(cpus), 0, core, core * numa // cores, kind))
    return Topology(tuple(cpus), "sys/devices/cpu_core,cpu_atom")


def plain(cores: int, threads: int = 1, numa: int = 1) -> Topology:
    cpus = [Cpu(core * threads + t, 0, core, core * numa // cores)
            for core in range(cores) for t in range(threads)]
    return Topology(tuple(cpus))


def laid_out(name: str, top: Topology, held: dict[int, tuple[int, ...]] | None = None,
             **kw: object) -> NodeView:
    n = node(name, cpus=len(top.cpus), **kw)  # type: ignore[arg-type]
    held = held or {}
    used = sum(len(v) for v in held.values())
    return dataclasses.replace(n, cpu_layout=top, cpus_held=tuple(held.items()),
                               cpus_free=n.cpus - used)


def _placed(d_start: Start) -> dict[str, tuple[int, ...]]:
    return {name: cpus for name, cpus, _ in d_start.placed}


def test_jobs_get_distinct_whole_cores_in_one_numa_domain() -> None:
    top = plain(cores=4, threads=2, numa=2)  # domain 0: CPUs 0-3, domain 1: 4-7
    d = run_cycle(snap([laid_out("n1", top)], [], [pend(1, cpus=2), pend(2, cpus=4),
                                                   pend(3, cpus=2, t_submit=1)]),
                  FCFS(), now=0.0)
    got = {s.job_id: _placed(s)["n1"] for s in d.starts}
    assert got[1] == (0, 1)  # one whole core
    assert got[2] == (4, 5, 6, 7)  # the whole of the other domain
    assert got[3] == (2, 3)
    assert len({c for ids in got.values() for c in ids}) == 8


def test_held_cpus_are_not_chosen_again() -> None:
    n1 = laid_out("n1", plain(cores=4), held={9: (0, 1)})
    d = run_cycle(snap([n1], [run(9, ("n1",), 2, 500.0)], [pend(1, cpus=2)]), FCFS(), 0.0)
    assert _placed(d.starts[0]) == {"n1": (2, 3)}


def test_a_node_without_topology_is_counted_only() -> None:
    d = run_cycle(snap([node("n1")], [], [pend(1, cpus=2)]), FCFS(), 0.0)
    assert d.starts[0].nodes == ("n1",) and d.starts[0].placed == ()


def test_a_core_type_job_waits_for_its_type_although_cpus_are_free() -> None:
    top = hybrid(perf_cores=1, eff_cores=1)  # CPU 0 performance, CPU 1 efficiency
    n1 = laid_out("n1", top, held={7: (0,)})
    s = snap([n1], [run(7, ("n1",), 1, 300.0)],
             [pend(1, core_type="performance"), pend(2, t_submit=1, core_type="efficiency")])
    d = run_cycle(s, EASY(), now=0.0)
    assert [x.job_id for x in d.starts] == [2]
    assert _placed(d.starts[0]) == {"n1": (1,)}
    assert d.pending[1].reason == Reason.RESOURCES
    assert d.pending[1].t_expected_start == 300.0  # when job 7 frees the performance core


def test_a_core_type_job_goes_to_the_node_with_enough_of_its_type() -> None:
    small = laid_out("n1", hybrid(perf_cores=1, eff_cores=6))
    big = laid_out("n2", hybrid(perf_cores=4, eff_cores=0))
    d = run_cycle(snap([small, big], [], [pend(1, cpus=3, core_type="performance")]),
                  FCFS(), 0.0)
    assert d.starts[0].nodes == ("n2",) and _placed(d.starts[0]) == {"n2": (0, 1, 2)}


def test_no_node_has_that_many_cores_of_the_type() -> None:
    n1 = laid_out("n1", hybrid(perf_cores=2, eff_cores=6))
    d = run_cycle(snap([n1], [], [pend(1, cpus=3, core_type="performance")]), FCFS(), 0.0)
    assert not d.starts and d.pending[1].reason == Reason.PARTITION_NODE_LIMIT


def test_a_node_without_core_types_takes_any_core_type_job() -> None:
    d = run_cycle(snap([laid_out("n1", plain(cores=2))], [],
                       [pend(1, core_type="performance")]), FCFS(), 0.0)
    assert _placed(d.starts[0]) == {"n1": (0,)}


def test_a_preferred_core_type_is_taken_when_free_and_never_waited_for() -> None:
    n1 = laid_out("n1", hybrid(perf_cores=2, eff_cores=2), held={7: (2, 3)})
    d = run_cycle(snap([n1], [run(7, ("n1",), 2, 300.0)],
                       [pend(1, prefer_core_type="efficiency")]), FCFS(), 0.0)
    assert _placed(d.starts[0]) == {"n1": (0,)}  # no efficiency core free: another
    d = run_cycle(snap([laid_out("n1", hybrid(2, 2))], [],
                       [pend(1, prefer_core_type="efficiency")]), FCFS(), 0.0)
    assert _placed(d.starts[0]) == {"n1": (2,)}


def test_gpus_and_cpus_of_one_numa_domain() -> None:
    top = plain(cores=4, numa=2)  # domain 0: CPUs 0-1, domain 1: 2-3
    n1 = dataclasses.replace(laid_out("n1", top, gpus=2), gpu_numa=(0, 1),
                             gpu_ids_used=frozenset({0}), gpus_free=1)
    d = run_cycle(snap([n1], [], [pend(1, cpus=2, gpus=1)]), FCFS(), 0.0)
    assert d.starts[0].placed == (("n1", (2, 3), (1,)),)


def test_cpu_bind_none_holds_no_ids() -> None:
    d = run_cycle(snap([laid_out("n1", plain(cores=2))], [],
                       [pend(1, cpu_bind="none")]), FCFS(), 0.0)
    assert _placed(d.starts[0]) == {"n1": ()}


# -- properties ----------------------------------------------------------------------
@st.composite
def typed_snapshots(draw: st.DrawFn) -> Snapshot:
    nodes: list[NodeView] = []
    running: list[RunningView] = []
    job_id = 1000
    for i in range(draw(st.integers(1, 3))):
        perf, eff = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        threads = draw(st.integers(1, 2))
        top = hybrid(perf, eff, threads, numa=draw(st.integers(1, 2))) if perf + eff \
            else plain(2)
        ids = [c.id for c in top.cpus]
        held: dict[int, tuple[int, ...]] = {}
        for _ in range(draw(st.integers(0, 2))):
            free = [c for c in ids if all(c not in v for v in held.values())]
            if not free:
                break
            take = tuple(sorted(draw(st.lists(st.sampled_from(free), min_size=1,
                                              max_size=len(free), unique=True))))
            job_id += 1
            held[job_id] = take
            running.append(RunningView(job_id, (f"n{i}",), len(take), 0, 0, 0.0,
                                       draw(st.floats(10, 1000))))
        nodes.append(laid_out(f"n{i}", top, held))
    pending = [pend(j, cpus=draw(st.integers(1, 4)), t_submit=float(j),
                    limit_s=draw(st.floats(10, 1000)),
                    core_type=draw(st.sampled_from(["", "performance", "efficiency"])),
                    cpu_bind=draw(st.sampled_from(["", "", "threads"])))
               for j in range(1, draw(st.integers(1, 8)) + 1)]
    return snap(nodes, running, pending)


@settings(max_examples=300, deadline=None)
@given(typed_snapshots(), st.sampled_from([FCFS, EASY, Conservative]))
def test_no_two_running_jobs_share_a_cpu_and_types_are_kept(s: Snapshot,
                                                            policy: type[Policy]) -> None:
    d = run_cycle(s, policy(), now=0.0)
    layout = {n.name: n.cpu_layout for n in s.nodes}
    owner: dict[tuple[str, int], int] = {}
    for n in s.nodes:
        for job_id, ids in n.cpus_held:
            for c in ids:
                owner[(n.name, c)] = job_id
    asks = {p.job_id: p for p in s.pending}
    for x in d.starts:
        p = asks[x.job_id]
        assert {name for name, _, _ in x.placed} == set(x.nodes)
        for name, cpus, _ in x.placed:
            top = layout[name]
            assert top is not None
            assert len(cpus) == p.cpus_per_node, (x, p)
            for c in cpus:
                assert (name, c) not in owner, (x, owner)
                owner[(name, c)] = x.job_id
            kinds = {cpu.id: cpu.kind for cpu in top.cpus}
            if p.core_type and top.type_source:
                assert all(kinds[c] == p.core_type for c in cpus), (x, p)
