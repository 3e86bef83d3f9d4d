"""A node's CPU layout as plain data: each CPU's socket, core, NUMA domain and core
type, its GPUs' domains, and the kernel's CPU-list format. The agent reads it from
/sys (corral.agent.topology); the controller keeps each node's as its agent reported
it, and both choose a job's CPUs from it (corral.model.placement)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PERFORMANCE = "performance"
EFFICIENCY = "efficiency"
CORE_TYPES = (PERFORMANCE, EFFICIENCY)
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
class Gpu:
    """One GPU: its index among the node's GPUs (PCI bus order), where it sits."""

    index: int
    bus_id: str  # 0000:3b:00.0
    vendor: str  # "nvidia", "amd"
    numa: int  # its NUMA domain (-1: unknown)


@dataclass(frozen=True, slots=True)
class Topology:
    cpus: tuple[Cpu, ...]  # by id
    type_source: str = ""  # which file told the core types apart ("": none)
    gpus: tuple[Gpu, ...] = ()  # by index

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
            "gpu_numa": [g.numa for g in self.gpus],
            "layout": [[c.id, c.socket, c.core, c.numa, c.kind] for c in self.cpus],
        }

    @classmethod
    def from_layout(cls, layout: Iterable[Iterable[int | str]], type_source: str = ""
                    ) -> Topology:
        """The topology a `summary()['layout']` describes (its GPUs aside)."""
        cpus = []
        for row in layout:
            cpu_id, socket, core, numa, kind = row
            cpus.append(Cpu(int(cpu_id), int(socket), int(core), int(numa), str(kind)))
        return cls(tuple(sorted(cpus, key=lambda c: c.id)), type_source)
