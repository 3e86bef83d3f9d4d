"""The topology reader on recorded trees of real machines (tests/agent/data/topology)
and on small trees written here for the sources those machines lack."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.agent.topology import (
    EFFICIENCY,
    PERFORMANCE,
    Topology,
    TopologyError,
    detect,
    format_cpulist,
    parse_cpulist,
    read_topology,
)

DATA = Path(__file__).parent / "data" / "topology"


def test_hybrid_intel_has_six_performance_and_eight_efficiency_cores() -> None:
    top = read_topology(DATA / "hybrid-i7-1370p")
    summary = top.summary()
    layout = summary.pop("layout")
    assert Topology.from_layout(layout, top.type_source) == top  # type: ignore[arg-type]
    assert summary == {
        "sockets": 1, "numa_nodes": 1, "cores": 14, "threads": 20, "cpu_list": "0-19",
        "core_types": {"efficiency": 8, "performance": 6},
        "type_source": "sys/devices/system/cpu/cpuN/acpi_cppc/highest_perf", "gpu_numa": []}
    kinds = {c.id: c.kind for c in top.cpus}
    assert {i for i, k in kinds.items() if k == PERFORMANCE} == set(range(12))
    assert {i for i, k in kinds.items() if k == EFFICIENCY} == set(range(12, 20))
    # performance cores have two threads, efficiency cores one
    assert sorted(len(v) for v in top.cores.values()) == [1] * 8 + [2] * 6
    # favoured cores (highest_perf 67 rather than 64) are no type of their own
    assert kinds[4] == kinds[0] == PERFORMANCE


def test_two_sockets_two_numa_domains() -> None:
    top = read_topology(DATA / "2socket-2numa-16c2t")
    s = top.summary()
    assert (s["sockets"], s["numa_nodes"], s["cores"], s["threads"]) == (2, 2, 16, 32)
    assert s["core_types"] == {} and s["type_source"] == ""
    cpu = top.by_id()
    assert cpu[0].core == cpu[16].core and cpu[0].numa == 0 and cpu[24].numa == 1
    assert cpu[8].socket == 1 and cpu[8].core != cpu[0].core


def test_allowed_cpus_only() -> None:
    top = read_topology(DATA / "2socket-2numa-16c2t", allowed={0, 16, 8})
    assert [c.id for c in top.cpus] == [0, 8, 16]
    assert len(top.cores) == 2


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_intel_pmu_lists_win(tmp_path: Path) -> None:
    _write(tmp_path, "sys/devices/system/cpu/online", "0-3")
    _write(tmp_path, "sys/devices/cpu_core/cpus", "0-1")
    _write(tmp_path, "sys/devices/cpu_atom/cpus", "2-3")
    top = read_topology(tmp_path)
    assert [c.kind for c in top.cpus] == [PERFORMANCE] * 2 + [EFFICIENCY] * 2
    assert top.type_source == "sys/devices/cpu_core,cpu_atom"
    assert len(top.cores) == 4  # no topology files: each CPU a core of its own


def test_arm_capacity(tmp_path: Path) -> None:
    _write(tmp_path, "sys/devices/system/cpu/online", "0-5")
    for cpu, cap in enumerate([446, 446, 446, 446, 1024, 1024]):
        _write(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/cpu_capacity", str(cap))
    top = read_topology(tmp_path)
    assert [c.kind for c in top.cpus] == [EFFICIENCY] * 4 + [PERFORMANCE] * 2


def test_close_frequencies_are_one_type(tmp_path: Path) -> None:
    _write(tmp_path, "sys/devices/system/cpu/online", "0-1")
    for cpu, khz in enumerate([4_800_000, 5_000_000]):
        _write(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq", str(khz))
    top = read_topology(tmp_path)
    assert [c.kind for c in top.cpus] == ["", ""] and top.summary()["core_types"] == {}


def test_cpulists() -> None:
    assert parse_cpulist("0-3,8, 10-11\n") == [0, 1, 2, 3, 8, 10, 11]
    assert format_cpulist([5, 0, 1, 2, 8]) == "0-2,5,8"
    with pytest.raises(TopologyError, match="not a CPU list"):
        parse_cpulist("3-1")


def test_this_machine() -> None:
    top = detect()
    assert top is not None
    assert {c.id for c in top.cpus} == os.sched_getaffinity(0)
