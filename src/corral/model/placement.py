"""Which CPUs of a node a job gets (docs/resources.md): the one policy, used by the
scheduler when it starts a job on a node whose topology its agent reported
(corral.sched), and by the agent for a start order that names no CPUs. A job
gets, by its cpu_bind:

- `cores` (the default): whole free cores first (every free thread of a core before
  the next core), within one NUMA domain and socket if the job fits in one (the
  fullest that fits, so that large free domains stay whole), else across domains;
- `threads`: hardware threads, the free siblings of busy threads first;
- `map_cpu:IDS`: exactly those CPUs;
- `none`: nothing held, nothing bound.
A job asking for a core type (`performance`, `efficiency`) gets CPUs of that type
only, as long as enough are free. A job with GPUs gets CPUs in its GPUs' NUMA
domains first (`near`); with `--gres-flags=enforce-binding`, only there. When fewer
CPUs are free than the job counts (the site declared more CPUs for the node than it
has, i.e. allows oversubscription, or a core type is short), the rest are the
least-shared CPUs and the placement says so in `note`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from corral.model.cpubind import (
    MAP_CPU,
    check_core_type,
    check_cpu_bind,
    check_gres_flags,
    parse_map_cpu,
)
from corral.model.topology import Topology, format_cpulist


class BindError(ValueError):
    """A job's explicit CPU list cannot be had here (the message says which CPU)."""


@dataclass(frozen=True, slots=True)
class Placement:
    cpus: tuple[int, ...]  # sorted; empty: not bound
    note: str = ""  # why the placement is not what the job asked for ("" it is)
    shared: bool = False  # some of its CPUs are other jobs' too (oversubscribed)

    @property
    def cpu_list(self) -> str:
        return format_cpulist(self.cpus)


class CpuAllocator:
    """The CPUs held by each job running here."""

    def __init__(self, topology: Topology, machine: Iterable[int] | None = None) -> None:
        self.topology = topology
        self._cpu = topology.by_id()
        self._cores = topology.cores
        self.held: dict[int, tuple[int, ...]] = {}
        self.told_shared = False  # the log said once that jobs share CPUs here
        # the CPUs the kernel here has, when the topology is a recorded machine's
        # (CORRAL_TOPOLOGY_ROOT); None: the topology is this machine's
        self.machine = frozenset(machine) if machine is not None else None

    def kernel(self, cpus: Iterable[int]) -> tuple[int, ...]:
        """Of a job's CPUs, those the kernel here can bind it to."""
        return tuple(c for c in cpus if self.machine is None or c in self.machine)

    def holders(self) -> Counter[int]:
        """How many running jobs hold each CPU."""
        return Counter(cpu for cpus in self.held.values() for cpu in cpus)

    def hold(self, job_id: int, cpus: Iterable[int]) -> tuple[int, ...]:
        """Hold the CPUs a run already has (re-adopted after a restart)."""
        ids = tuple(sorted(c for c in set(cpus) if c in self._cpu))
        if ids:
            self.held[job_id] = ids
        return ids

    def given(self, job_id: int, cpus: Iterable[int]) -> Placement:
        """Hold exactly the CPUs chosen for the job elsewhere (the scheduler); those
        this node does not have are left out, and the note says which."""
        self.release(job_id)
        wanted = sorted(set(cpus))
        ids = tuple(c for c in wanted if c in self._cpu)
        holders = self.holders()
        shared = any(holders[c] for c in ids)
        missing = [c for c in wanted if c not in self._cpu]
        note = (f"CPUs {format_cpulist(missing)} are not this node's "
                f"({format_cpulist(self._cpu)})") if missing else ""
        if shared:
            note = (f"{note}; " if note else "") + (
                f"CPUs {format_cpulist(c for c in ids if holders[c])} are other jobs' too")
        if ids:
            self.held[job_id] = ids
        return Placement(ids, note, shared=shared)

    def kinds_of(self, cpus: Iterable[int]) -> tuple[tuple[str, int], ...]:
        """How many of these CPUs are of each core type, sorted by type (none: ())."""
        out: dict[str, int] = {}
        for c in cpus:
            cpu = self._cpu.get(c)
            if cpu is not None and cpu.kind:
                out[cpu.kind] = out.get(cpu.kind, 0) + 1
        return tuple(sorted(out.items()))

    def free_of(self, kind: str = "") -> int:
        """How many CPUs no job holds (of that core type, if given and the node has
        core types)."""
        holders = self.holders()
        typed = kind and self.topology.type_source != ""
        return sum(1 for c in self.topology.cpus
                   if not holders[c.id] and (not typed or c.kind == kind))

    def release(self, job_id: int) -> None:
        self.held.pop(job_id, None)

    def take(self, job_id: int, count: int, *, cpu_bind: str = "",
             core_type: str = "", near: Iterable[int] = (),
             gres_flags: str = "") -> Placement:
        """Choose and hold `count` CPUs for the job (BindError: map_cpu cannot be had;
        BindOptionError: an option corral does not know). near: the NUMA domains of
        the job's GPUs."""
        self.release(job_id)
        mode = check_cpu_bind(cpu_bind) or "cores"
        kind = check_core_type(core_type)
        flags = check_gres_flags(gres_flags)
        domains = frozenset(near) if flags != "disable-binding" else frozenset()
        if mode == "none":
            return Placement(())
        if mode.startswith(MAP_CPU):
            placement = self._mapped(job_id, mode)
        else:
            placement = self._choose(max(1, count), mode == "threads", kind, domains,
                                     enforce=flags == "enforce-binding")
        self.held[job_id] = placement.cpus
        return placement

    # -- choosing ------------------------------------------------------------------------
    def _mapped(self, job_id: int, mode: str) -> Placement:
        ids = parse_map_cpu(mode)
        unknown = [i for i in ids if i not in self._cpu]
        if unknown:
            raise BindError(f"cpu_bind: CPU {unknown[0]} is not one of this node's "
                            f"({format_cpulist(self._cpu)})")
        busy = [i for i in ids if self.holders()[i]]
        if busy:
            owner = next(j for j, cpus in self.held.items() if busy[0] in cpus)
            raise BindError(f"cpu_bind: CPU {busy[0]} is held by job {owner}")
        return Placement(tuple(sorted(ids)))

    def _choose(self, count: int, threads: bool, kind: str,
                near: frozenset[int] = frozenset(), *, enforce: bool = False) -> Placement:
        holders = self.holders()
        pool = [c for c in self.topology.cpus if c.numa in near] if near else []
        if not pool or not enforce:
            pool = list(self.topology.cpus)  # enforce-binding: only near the GPUs
        free = [c for c in pool if not holders[c.id]]
        note = ""
        typed = self.topology.type_source != ""
        if kind and typed:
            of_kind = [c for c in free if c.kind == kind]
            if len(of_kind) < count:
                note = (f"{len(of_kind)} free {kind} CPUs for {count}; "
                        "other CPUs make up the rest")
            else:
                free = of_kind
        close = [c.id for c in free if c.numa in near]
        if close and len(close) < count and not enforce:  # all near ones, then others
            picked = self._pack(close, len(close), threads)
            picked += self._pack([c.id for c in free if c.numa not in near],
                                 count - len(picked), threads)
            note = (f"{note}; " if note else "") + (
                f"{len(close)} free CPUs near the job's GPUs for {count}")
        else:
            picked = self._pack(close if close and len(close) >= count else
                                [c.id for c in free], count, threads)
        if len(picked) < count:  # oversubscribed: the least-shared CPUs
            rest = sorted((c.id for c in pool if c.id not in picked),
                          key=lambda i: (holders[i], i))
            shared = rest[:count - len(picked)]
            picked += shared
            if shared:
                note = (f"{note}; " if note else "") + (
                    f"only {count - len(shared)} free CPUs for {count}; "
                    f"sharing CPUs {format_cpulist(shared)} with other jobs")
        return Placement(tuple(sorted(picked)), note, shared=bool(holders) and any(
            holders[c] for c in picked))

    def _pack(self, free: list[int], count: int, threads: bool) -> list[int]:
        """Up to `count` of the free CPUs: in the fullest NUMA domain (and socket)
        where the job fits, else spread over domains, most free first."""
        by_domain: dict[tuple[int, int], list[int]] = {}
        for cpu in free:
            c = self._cpu[cpu]
            by_domain.setdefault((c.numa, c.socket), []).append(cpu)
        fitting = [d for d, cpus in by_domain.items() if len(cpus) >= count]
        if fitting:
            best = min(fitting, key=lambda d: (len(by_domain[d]), d))
            return self._in_domain(by_domain[best], count, threads)
        out: list[int] = []
        for d in sorted(by_domain, key=lambda d: (-len(by_domain[d]), d)):
            out += self._in_domain(by_domain[d], count - len(out), threads)
            if len(out) >= count:
                break
        return out

    def _in_domain(self, free: list[int], count: int, threads: bool) -> list[int]:
        cores = self._cores
        free_set = set(free)
        per_core: dict[int, list[int]] = {}
        for cpu in free:
            per_core.setdefault(self._cpu[cpu].core, []).append(cpu)

        def order(core: int) -> tuple[int, int]:
            whole = len(per_core[core]) == len(cores[core])
            if threads:  # the siblings of busy threads first, then whole cores
                return (1 if whole else 0, core)
            return (0 if whole else 1, core)  # whole cores first

        out: list[int] = []
        for core in sorted(per_core, key=order):
            for cpu in sorted(per_core[core]):
                if len(out) < count and cpu in free_set:
                    out.append(cpu)
        return out
