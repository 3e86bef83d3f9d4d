"""This node's CPU topology as the kernel shows it under /sys: sockets, NUMA domains,
cores, hardware threads and, on hybrid CPUs, each core's type.

Everything is read below a root directory (`/` on a node; a recorded tree of another
machine's files in tests):

    sys/devices/system/cpu/online                          the CPUs the kernel runs
    sys/devices/system/cpu/cpuN/topology/physical_package_id, core_id,
                                         thread_siblings_list
    sys/devices/system/node/nodeM/cpulist                  NUMA domain M's CPUs

A core's type, from the first of these sources that tells cores apart:
    sys/devices/cpu_core/cpus, sys/devices/cpu_atom/cpus   Intel hybrid CPUs' PMUs
    sys/devices/system/cpu/types/<type>/cpulist            a kernel's CPU types
    sys/devices/system/cpu/cpuN/cpu_capacity               Arm big.LITTLE
    sys/devices/system/cpu/cpuN/acpi_cppc/highest_perf     ACPI CPPC
    sys/devices/system/cpu/cpuN/cpufreq/cpuinfo_max_freq   the highest frequency
For the numeric sources, the values are split at their largest gap when it is wider
than TYPE_GAP (a favoured core's slightly higher value is no type of its own):
those above are performance cores, those below efficiency cores. A machine whose
cores do not differ has no core types (`kind` is "").

GPUs are the display and 3D controllers (PCI class 0x0300, 0x0302) among
    sys/bus/pci/devices/<bus id>/class, vendor                NVIDIA 0x10de, AMD 0x1002
    proc/driver/nvidia/gpus/<bus id>                          NVIDIA's driver (no vendor)
numbered in PCI bus order (as nvidia-smi and CUDA_DEVICE_ORDER=PCI_BUS_ID number
them). A GPU's NUMA domain is its `numa_node`, else the domain holding its
`local_cpulist` (or `local_cpus` mask); -1 when neither tells.
CORRAL_TOPOLOGY_ROOT points the agent at another machine's recorded tree (tests).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from corral.model.topology import (
    CORE_TYPES,
    EFFICIENCY,
    MAX_CPU_ID,
    PERFORMANCE,
    Cpu,
    Gpu,
    Topology,
    TopologyError,
    format_cpulist,
    parse_cpulist,
)

TYPE_GAP = 0.10  # relative gap between two values that makes two core types

def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def _online(cpu_dir: Path) -> list[int]:
    text = _read(cpu_dir / "online")
    if text is not None:
        return parse_cpulist(text)
    ids = []
    for entry in os.scandir(cpu_dir):
        name = entry.name
        if name.startswith("cpu") and name[3:].isdigit():
            ids.append(int(name[3:]))
    return sorted(ids)


def _numa_of(root: Path) -> dict[int, int]:
    node_dir = root / "sys/devices/system/node"
    out: dict[int, int] = {}
    try:
        entries = list(os.scandir(node_dir))
    except OSError:
        return out
    for entry in entries:
        if entry.name.startswith("node") and entry.name[4:].isdigit():
            text = _read(Path(entry.path) / "cpulist")
            for cpu in parse_cpulist(text) if text else []:
                out[cpu] = int(entry.name[4:])
    return out


def _split(values: dict[int, float]) -> dict[int, str]:
    """Performance above the largest relative gap between distinct values, if wide."""
    distinct = sorted(set(values.values()))
    if len(distinct) < 2 or distinct[0] <= 0:
        return {}
    gaps = [(distinct[i + 1] / distinct[i] - 1, distinct[i + 1])
            for i in range(len(distinct) - 1)]
    gap, threshold = max(gaps)
    if gap < TYPE_GAP:
        return {}
    return {cpu: PERFORMANCE if v >= threshold else EFFICIENCY for cpu, v in values.items()}


def _kinds_listed(root: Path, ids: list[int]) -> tuple[dict[int, str], str]:
    pmu = {PERFORMANCE: root / "sys/devices/cpu_core/cpus",
           EFFICIENCY: root / "sys/devices/cpu_atom/cpus"}
    out: dict[int, str] = {}
    for kind, path in pmu.items():
        text = _read(path)
        out.update(dict.fromkeys(parse_cpulist(text) if text else [], kind))
    if len(set(out.values())) > 1:
        return out, "sys/devices/cpu_core,cpu_atom"
    out = {}
    types = root / "sys/devices/system/cpu/types"
    try:
        entries = sorted(os.scandir(types), key=lambda e: e.name)
    except OSError:
        entries = []
    for entry in entries:
        kind = EFFICIENCY if "atom" in entry.name or "little" in entry.name else PERFORMANCE
        text = _read(Path(entry.path) / "cpulist")
        out.update(dict.fromkeys(parse_cpulist(text) if text else [], kind))
    if len(set(out.values())) > 1:
        return out, "sys/devices/system/cpu/types"
    return {}, ""


_NUMERIC_SOURCES = ("cpu_capacity", "acpi_cppc/highest_perf", "cpufreq/cpuinfo_max_freq")


def _kinds(root: Path, ids: list[int]) -> tuple[dict[int, str], str]:
    listed = _kinds_listed(root, ids)
    if listed[0]:
        return listed
    cpu_dir = root / "sys/devices/system/cpu"
    for source in _NUMERIC_SOURCES:
        values = {}
        for cpu in ids:
            v = _read_int(cpu_dir / f"cpu{cpu}" / source)
            if v is not None:
                values[cpu] = float(v)
        if len(values) == len(ids):
            kinds = _split(values)
            if kinds:
                return kinds, f"sys/devices/system/cpu/cpuN/{source}"
    return {}, ""


GPU_CLASSES = ("0x0300", "0x0302")  # VGA-compatible and 3D controllers
GPU_VENDORS = {"0x10de": "nvidia", "0x1002": "amd"}


def _mask_cpus(text: str) -> list[int]:
    """'0000,0000ffff' (the kernel's cpumask, 32-bit words, highest first) -> ids."""
    try:
        value = int(text.strip().replace(",", ""), 16)
    except ValueError:
        return []
    return [i for i in range(min(value.bit_length(), MAX_CPU_ID)) if value >> i & 1]


def _gpu_numa(dev: Path, numa: dict[int, int]) -> int:
    node = _read_int(dev / "numa_node")
    if node is not None and node >= 0:
        return node
    listed = _read(dev / "local_cpulist")
    try:
        local = parse_cpulist(listed) if listed else _mask_cpus(_read(dev / "local_cpus") or "")
    except TopologyError:
        local = []
    domains = {numa[c] for c in local if c in numa}
    return domains.pop() if len(domains) == 1 else -1  # near to several: no one domain


def read_gpus(root: Path | str, numa: dict[int, int]) -> tuple[Gpu, ...]:
    """The GPUs below `root` (numa: each CPU's NUMA domain)."""
    root = Path(root)
    pci = root / "sys/bus/pci/devices"
    nvidia_driver = root / "proc/driver/nvidia/gpus"
    try:
        names = sorted(e.name for e in os.scandir(pci))
    except OSError:
        return ()
    out: list[Gpu] = []
    for bus_id in names:
        dev = pci / bus_id
        cls = (_read(dev / "class") or "").strip().lower()
        if not cls.startswith(GPU_CLASSES):
            continue
        vendor = GPU_VENDORS.get((_read(dev / "vendor") or "").strip().lower(), "")
        if not vendor and (nvidia_driver / bus_id).is_dir():
            vendor = "nvidia"
        if vendor:  # not a server's on-board display controller
            out.append(Gpu(len(out), bus_id, vendor, _gpu_numa(dev, numa)))
    return tuple(out)


def read_topology(root: Path | str = "/", allowed: Iterable[int] | None = None) -> Topology:
    """The CPUs below `root` (only those in `allowed`, if given: the agent's affinity).
    A CPU without topology files counts as a core of its own in socket 0."""
    root = Path(root)
    cpu_dir = root / "sys/devices/system/cpu"
    ids = _online(cpu_dir)
    if allowed is not None:
        keep = set(allowed)
        ids = [i for i in ids if i in keep]
    numa = _numa_of(root)
    kinds, source = _kinds(root, ids)
    core_index: dict[tuple[int, str], int] = {}
    cpus = []
    for cpu in ids:
        top = cpu_dir / f"cpu{cpu}" / "topology"
        socket = _read_int(top / "physical_package_id")
        socket = socket if socket is not None and socket >= 0 else 0
        siblings = _read(top / "thread_siblings_list")
        core_id = _read_int(top / "core_id")
        # threads of one core list the same siblings; without the file, the core's id
        key = (socket, format_cpulist(parse_cpulist(siblings)) if siblings
               else f"id{core_id if core_id is not None else f'cpu{cpu}'}")
        core = core_index.setdefault(key, len(core_index))
        cpus.append(Cpu(cpu, socket, core, numa.get(cpu, 0), kinds.get(cpu, "")))
    return Topology(tuple(cpus), source, read_gpus(root, numa))


def recorded_root() -> Path | None:
    """The recorded tree the agent reads instead of this machine's (None: this one)."""
    value = os.environ.get("CORRAL_TOPOLOGY_ROOT")
    return Path(value) if value else None


def detect(allowed: Iterable[int] | None = None) -> Topology | None:
    """This machine's topology over the CPUs this process may use (None: unreadable);
    with CORRAL_TOPOLOGY_ROOT, the recorded machine's, every CPU of it."""
    recorded = recorded_root()
    if recorded is not None:
        try:
            top = read_topology(recorded)
        except (OSError, TopologyError):
            return None
        return top if top.cpus else None
    if allowed is None:
        try:
            allowed = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            allowed = None
    try:
        top = read_topology("/", allowed)
    except (OSError, TopologyError):
        return None
    return top if top.cpus else None


__all__ = ["CORE_TYPES", "EFFICIENCY", "MAX_CPU_ID", "PERFORMANCE", "TYPE_GAP", "Cpu", "Gpu",
           "Topology", "TopologyError", "detect", "format_cpulist", "parse_cpulist",
           "read_gpus", "read_topology", "recorded_root"]
