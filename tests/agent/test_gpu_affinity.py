"""GPUs and their NUMA domains on a recorded 2-socket, 6-GPU machine (IBM AC922,
tests/agent/data/topology/power9-2socket-6gpu), the devices a job is given
(model/gpus.py) and the CPUs chosen near them (agent/binding.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.agent.binding import CpuAllocator
from corral.agent.topology import read_gpus, read_topology
from corral.model.cpubind import BindOptionError, check_gres_flags
from corral.model.gpus import choose, near_domains

DATA = Path(__file__).parent / "data" / "topology"
AC922 = DATA / "power9-2socket-6gpu"
SOCKET0, SOCKET8 = set(range(16)), set(range(88, 104))


def test_gpus_are_read_in_bus_order_with_their_domains() -> None:
    top = read_topology(AC922)
    assert [(g.index, g.bus_id, g.vendor) for g in top.gpus] == [
        (0, "0004:05:00.0", "nvidia"), (1, "0004:06:00.0", "nvidia"),
        (2, "0006:00:00.0", "nvidia"), (3, "0007:00:00.0", "nvidia"),
        (4, "0035:04:00.0", "nvidia"), (5, "0035:05:00.0", "nvidia")]
    # no numa_node file: the domain holding each GPU's local_cpus
    assert top.summary()["gpu_numa"] == [0, 0, 0, 8, 8, 8]
    assert {c.numa for c in top.cpus if c.id in SOCKET8} == {8}


def test_a_board_display_controller_is_no_gpu_and_numa_node_wins(tmp_path: Path) -> None:
    pci = tmp_path / "sys/bus/pci/devices"
    for bus, cls, vendor, numa, local in (
            ("0000:03:00.0", "0x030000", "0x1a03", "0", "0-3"),   # ASPEED BMC display
            ("0000:3b:00.0", "0x030200", "0x10de", "1", "0-3"),   # NVIDIA, numa_node 1
            ("0000:5e:00.0", "0x038000", "0x1002", "0", "0-3"),   # not a display class
            ("0000:af:00.0", "0x030000", "0x1002", "-1", "4-7"),  # AMD, by its CPUs
            ("0000:d8:00.0", "0x030200", "0x10de", "-1", "0-7")):  # near both: unknown
        (pci / bus).mkdir(parents=True)
        for name, text in (("class", cls), ("vendor", vendor), ("numa_node", numa),
                           ("local_cpulist", local)):
            (pci / bus / name).write_text(text + "\n")
    numa = {c: 0 if c < 4 else 1 for c in range(8)}
    gpus = read_gpus(tmp_path, numa)
    assert [(g.bus_id, g.vendor, g.numa) for g in gpus] == [
        ("0000:3b:00.0", "nvidia", 1), ("0000:af:00.0", "amd", 1),
        ("0000:d8:00.0", "nvidia", -1)]
    assert read_gpus(tmp_path / "none", numa) == ()


def test_devices_of_one_domain_the_fullest_that_fits() -> None:
    numa = (0, 0, 0, 8, 8, 8)
    a = choose(6, set(), 2, numa)
    assert a == (0, 1)
    b = choose(6, set(a), 2, numa)  # lowest free would be 2,3: two sockets
    assert b == (3, 4)
    c = choose(6, set(a) | set(b), 1, numa)
    assert c == (2,)  # a tie: the lower domain
    assert choose(6, {0, 3}, 3, numa) == (1, 2, 4)  # fits nowhere: the fullest first
    assert choose(6, {0}, 2, ()) == (1, 2)  # domains unknown: the lowest free
    assert choose(2, {0, 1}, 1, (0, 0)) == ()
    assert near_domains((3, 4), numa) == {8} and near_domains((0, 9), (-1,)) == frozenset()


def test_cpus_near_the_gpus_and_enforce_binding() -> None:
    alloc = CpuAllocator(read_topology(AC922))
    p = alloc.take(1, 4, near={8})
    assert set(p.cpus) <= SOCKET8 and p.note == ""
    alloc.take(2, 14, near={8}, gres_flags="disable-binding")  # not steered: socket 0
    assert set(alloc.held[2]) <= SOCKET0
    q = alloc.take(3, 4, near={0})  # 2 free near its GPUs: those, then others
    assert len(set(q.cpus) & SOCKET0) == 2 and "2 free CPUs near the job's GPUs" in q.note
    r = alloc.take(4, 4, near={0}, gres_flags="enforce-binding")  # only near: shared
    assert set(r.cpus) <= SOCKET0 and r.shared
    with pytest.raises(BindOptionError, match="gres_flags: 'bind' is not one of"):
        alloc.take(5, 1, gres_flags="bind")
    assert check_gres_flags(" Enforce_Binding ") == "enforce-binding"


def test_a_recorded_machine_binds_only_the_cpus_this_one_has() -> None:
    alloc = CpuAllocator(read_topology(AC922), machine={0, 1})
    assert alloc.kernel((0, 1, 2, 88)) == (0, 1) and alloc.kernel((88,)) == ()
    assert CpuAllocator(read_topology(AC922)).kernel((88,)) == (88,)
