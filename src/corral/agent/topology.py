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
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PERFORMANCE = "performance"
EFFICIENCY = "efficiency"
CORE_TYPES = (PERFORMANCE, EFFICIENCY)
TYPE_GAP = 0.10  # relative gap between two values that makes two core types
MAX_CPU_ID = 1 << 16


class TopologyError(ValueError):
    """A CPU list or a topology file does not have the kernel's shape."""


def parse_cpulist(text: str) -> list[int]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11] (the kernel's list format)."""
    out: list[int] = []
    for raw in text.strip().split(","):
        part = raw.strip()
        if not part:
            continue
        low, sep, high = part.partition("-")
        try:
            first, last = int(low), int(high) if sep else int(low)
        except ValueError:
            raise TopologyError(f"not a CPU list: {text.strip()!r}") from None
        if first < 0 or last < first or last >= MAX_CPU_ID:
            raise TopologyError(f"not a CPU list: {text.strip()!r}")
        out.extend(range(first, last + 1))
    return sorted(set(out))


def format_cpulist(cpus: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    ids = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)


@dataclass(frozen=True, slots=True)
class Cpu:
    """One hardware thread (what the kernel calls a CPU)."""

    id: int
    socket: int
    core: int  # the core's index in Topology.cores
    numa: int
    kind: str = ""  # PERFORMANCE, EFFICIENCY or "" (no core types)


@dataclass(frozen=True, slots=True)
class Topology:
    cpus: tuple[Cpu, ...]  # by id
    type_source: str = ""  # which file told the core types apart ("": none)

    @property
    def cores(self) -> dict[int, tuple[int, ...]]:
        """Each core's CPU ids."""
        out: dict[int, list[int]] = {}
        for c in self.cpus:
            out.setdefault(c.core, []).append(c.id)
        return {k: tuple(v) for k, v in out.items()}

    def by_id(self) -> dict[int, Cpu]:
        return {c.id: c for c in self.cpus}

    def summary(self) -> dict[str, object]:
        """What the agent reports when it registers (model.agent_messages.AgentTopology)."""
        kinds: dict[str, set[int]] = {}
        for c in self.cpus:
            if c.kind:
                kinds.setdefault(c.kind, set()).add(c.core)
        return {
            "sockets": len({c.socket for c in self.cpus}),
            "numa_nodes": len({c.numa for c in self.cpus}),
            "cores": len({c.core for c in self.cpus}),
            "threads": len(self.cpus),
            "cpu_list": format_cpulist(c.id for c in self.cpus),
            "core_types": {k: len(v) for k, v in sorted(kinds.items())},
            "type_source": self.type_source,
        }


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
    return Topology(tuple(cpus), source)


def detect(allowed: Iterable[int] | None = None) -> Topology | None:
    """This machine's topology over the CPUs this process may use (None: unreadable)."""
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
