"""The node-local CPU allocator on recorded machines (tests/agent/data/topology)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.agent.binding import BindError, CpuAllocator
from corral.agent.topology import EFFICIENCY, PERFORMANCE, read_topology
from corral.model.cpubind import BindOptionError, check_core_type, check_cpu_bind

DATA = Path(__file__).parent / "data" / "topology"


def hybrid() -> CpuAllocator:
    return CpuAllocator(read_topology(DATA / "hybrid-i7-1370p"))


def two_sockets() -> CpuAllocator:
    return CpuAllocator(read_topology(DATA / "2socket-2numa-16c2t"))


def test_performance_job_gets_only_performance_cores() -> None:
    alloc = hybrid()
    kind = {c.id: c.kind for c in alloc.topology.cpus}
    p = alloc.take(1, 4, core_type="performance")
    assert p.note == "" and {kind[c] for c in p.cpus} == {PERFORMANCE}
    assert p.cpus == (0, 1, 2, 3)  # two whole cores
    e = alloc.take(2, 3, core_type="efficiency")
    assert {kind[c] for c in e.cpus} == {EFFICIENCY} and not set(e.cpus) & set(p.cpus)
    rest = alloc.take(3, 8, core_type="performance")  # the other 4 cores, whole
    assert rest.cpus == tuple(range(4, 12)) and rest.note == ""


def test_short_of_a_core_type_says_so() -> None:
    alloc = hybrid()
    alloc.take(1, 12, core_type="performance")
    p = alloc.take(2, 2, core_type="performance")
    assert "0 free performance CPUs for 2" in p.note
    assert set(p.cpus) <= set(range(12, 20))  # the free efficiency CPUs, not shared


def test_cores_first_then_threads() -> None:
    alloc = two_sockets()
    a = alloc.take(1, 1)
    b = alloc.take(2, 1)
    assert a.cpus == (0,) and b.cpus == (1,)  # each on a core of its own
    t = alloc.take(3, 1, cpu_bind="threads")
    assert t.cpus == (16,)  # the sibling of a busy thread


def test_packed_in_one_numa_domain() -> None:
    alloc = two_sockets()
    alloc.take(1, 10)  # NUMA domain 0 (16 CPUs) keeps 6
    p = alloc.take(2, 6)
    assert {alloc.topology.by_id()[c].numa for c in p.cpus} == {0}  # the fullest that fits
    q = alloc.take(3, 16)
    assert {alloc.topology.by_id()[c].numa for c in q.cpus} == {1}
    assert len(set(p.cpus) | set(q.cpus) | set(alloc.held[1])) == 32


def test_release_frees_and_no_cpu_twice() -> None:
    alloc = two_sockets()
    for job in range(1, 9):
        alloc.take(job, 4)
    assert len({c for cpus in alloc.held.values() for c in cpus}) == 32
    alloc.release(3)
    again = alloc.take(9, 4)
    assert again.note == "" and len(again.cpus) == 4


def test_oversubscribed_shares_least_used_and_says_so() -> None:
    alloc = two_sockets()
    alloc.take(1, 32)
    p = alloc.take(2, 2)
    assert len(p.cpus) == 2 and "sharing CPUs" in p.note and p.shared
    alloc.release(1)
    assert not alloc.take(3, 2).shared


def test_map_cpu_and_none() -> None:
    alloc = two_sockets()
    assert alloc.take(1, 2, cpu_bind="map_cpu:5,3").cpus == (3, 5)
    with pytest.raises(BindError, match="CPU 5 is held by job 1"):
        alloc.take(2, 1, cpu_bind="map_cpu:5")
    with pytest.raises(BindError, match="CPU 99 is not one of this node's"):
        alloc.take(2, 1, cpu_bind="map_cpu:99")
    assert alloc.take(3, 4, cpu_bind="none").cpus == ()


def test_readopted_run_keeps_its_cpus() -> None:
    alloc = two_sockets()
    alloc.hold(7, [0, 16])
    assert not {0, 16} & set(alloc.take(8, 2).cpus)


def test_option_spellings() -> None:
    assert check_cpu_bind("verbose,core") == "cores"
    assert check_cpu_bind("map_cpu:3, 1,3") == "map_cpu:3,1"
    assert check_cpu_bind("") == ""
    assert check_core_type("P") == "performance"
    with pytest.raises(BindOptionError, match="cpu_bind: 'sockets2' is not one of"):
        check_cpu_bind("sockets2")
    with pytest.raises(BindOptionError, match="core_type: 'big' is not one of"):
        check_core_type("big")
