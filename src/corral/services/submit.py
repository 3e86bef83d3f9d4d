"""Turning a submission into a validated JobSpec, or a clear refusal.

Two kinds of "no": a request that can never run (bigger than any node of its
partition, longer than the partition allows) is refused here with a message that
quotes the numbers; one that merely cannot run now is accepted and waits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

from corral.config import Config, PartitionConfig
from corral.model.bounds import check_spec
from corral.model.errors import Infeasible, InvalidRequest, NotFound
from corral.model.features import join_constraint
from corral.model.gres import format_gres, parse_gres
from corral.model.job import JobSpec
from corral.model.licenses import check_against, format_licenses, parse_licenses
from corral.model.node import Node
from corral.model.sandbox import check_lists
from corral.model.units import UNLIMITED_S, format_duration_s
from corral.sched.constraint import compile_constraint
from corral.services.gres import having as having_gres
from corral.services.matchmaking import check_requirements, pilot_prototype

MAX_NAME_LEN = 200
MAX_SCRIPT_BYTES = 4 * 1024 * 1024
MAX_ENV_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Resolved:
    spec: JobSpec
    partition: str
    time_limit_s: int  # UNLIMITED_S (0): unlimited
    mem_mb_per_node: int | None


def partition_nodes(part: PartitionConfig, nodes: Iterable[Node]) -> list[Node]:
    if part.nodes == "ALL":
        return list(nodes)
    wanted = set(part.nodes)
    return [n for n in nodes if n.name in wanted]


def _positive(field: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise InvalidRequest(f"{field}: {value} is below the minimum of {minimum}")


def validate_spec(spec: JobSpec) -> None:
    check_spec(spec)  # every field within its range (corral.model.bounds)
    if spec.interactive and (spec.script or spec.argv):
        raise InvalidRequest("command: an allocation (interactive) runs no command; "
                             "its client starts steps in it")
    if not spec.script and not spec.argv and not spec.interactive:
        raise InvalidRequest("command: a job needs a script or a command")
    if spec.script is not None and len(spec.script.encode()) > MAX_SCRIPT_BYTES:
        raise InvalidRequest(
            f"script: {len(spec.script.encode())} bytes is over the limit of {MAX_SCRIPT_BYTES}"
        )
    if not spec.name or len(spec.name) > MAX_NAME_LEN:
        raise InvalidRequest(f"name: {spec.name!r} must have 1 to {MAX_NAME_LEN} characters")
    if "/" in spec.name or "\n" in spec.name:
        raise InvalidRequest(f"name: {spec.name!r} may not contain '/' or a newline")
    if not spec.working_dir.startswith("/"):
        raise InvalidRequest(f"working_dir: {spec.working_dir!r} must be an absolute path")
    if len(spec.environment) > MAX_ENV_ENTRIES:
        raise InvalidRequest(
            f"environment: {len(spec.environment)} entries is over the limit of {MAX_ENV_ENTRIES}"
        )
    _positive("nodes", spec.nodes)
    _positive("cpus_per_node", spec.cpus_per_node)
    _positive("gpus_per_node", spec.gpus_per_node, 0)
    if spec.mem_mb_per_node is not None:
        _positive("mem_mb_per_node", spec.mem_mb_per_node)
    if spec.time_limit_s is not None:
        _positive("time_limit_s", spec.time_limit_s, UNLIMITED_S)  # 0: unlimited
    for term in spec.features:
        compile_constraint(term)  # its syntax: InvalidRequest naming the constraint
    if not -10000 <= spec.nice <= 10000:
        raise InvalidRequest(f"nice: {spec.nice} is outside -10000..10000")


def resolve(spec: JobSpec, cfg: Config, nodes: Iterable[Node]) -> Resolved:
    """Check a spec against the configuration and the known nodes."""
    validate_spec(spec)
    check_lists(spec.input_sandbox, spec.output_sandbox)  # (their files: the API's)
    # the sites' pilots count as nodes before any has come (docs/pilots.md)
    nodes = [*nodes, *(pilot_prototype(site) for site in cfg.sites)]
    if spec.gres is not None:
        spec = dataclasses.replace(spec, gres=format_gres(parse_gres(spec.gres)))
    if spec.licenses is not None:
        wanted = parse_licenses(spec.licenses)
        check_against(wanted, cfg.licenses)
        spec = dataclasses.replace(spec, licenses=format_licenses(wanted))
    if spec.partition is None:
        part = cfg.default_partition
    else:
        found = cfg.partition(spec.partition)
        if found is None:
            names = ", ".join(p.name for p in cfg.partitions)
            raise NotFound(f"partition: no partition named {spec.partition!r} (have: {names})")
        part = found
    members = partition_nodes(part, nodes)
    if not members:
        raise Infeasible(f"partition {part.name!r} has no nodes")
    if spec.nodelist or spec.exclude:
        spec, members = _placement(spec, part.name, members, {n.name for n in nodes})

    if spec.time_limit_s is None:  # not given: the partition's default
        time_limit_s = part.default_time_s or part.max_time_s
    else:
        time_limit_s = spec.time_limit_s
    if part.max_time_s and (time_limit_s == UNLIMITED_S or time_limit_s > part.max_time_s):
        raise Infeasible(
            f"time limit: asks {format_duration_s(time_limit_s)}; partition {part.name!r} "
            f"allows at most {format_duration_s(part.max_time_s)}"
        )
    if part.max_nodes and spec.nodes > part.max_nodes:
        raise Infeasible(
            f"nodes: asks {spec.nodes}; partition {part.name!r} allows at most {part.max_nodes}"
        )
    if part.max_cpus_per_node and spec.cpus_per_node > part.max_cpus_per_node:
        raise Infeasible(
            f"cpus: asks {spec.cpus_per_node} per node; partition {part.name!r} allows at most "
            f"{part.max_cpus_per_node}"
        )
    mem = spec.mem_mb_per_node or part.default_mem_mb_per_node
    if spec.gpu_type is not None:
        members = _of_gpu_type(spec, cfg, part.name, members)
    if spec.gres is not None:
        members = having_gres(parse_gres(spec.gres), part.name, members)
    judged = spec.requirements is not None or spec.rank is not None
    fitting = _check_fits(spec, mem, part.name, members, every=judged)
    if judged:
        check_requirements(cfg, spec, part.name, mem, fitting)
    return Resolved(spec=spec, partition=part.name, time_limit_s=time_limit_s,
                    mem_mb_per_node=mem)


def _placement(spec: JobSpec, part: str, members: list[Node], known: set[str]
               ) -> tuple[JobSpec, list[Node]]:
    """--nodelist and --exclude: names checked, the partition's nodes narrowed. A node
    list longer than the node count raises the count to it (as Slurm does)."""
    for field, names in (("nodelist", spec.nodelist), ("exclude", spec.exclude)):
        for name in names:
            if name not in known:
                raise NotFound(f"{field}: no node named {name!r}")
    both = sorted(set(spec.nodelist) & set(spec.exclude))
    if both:
        raise InvalidRequest(f"nodelist: node {both[0]!r} is also excluded (--exclude)")
    inside = {n.name for n in members}
    for name in spec.nodelist:
        if name not in inside:
            raise Infeasible(f"nodelist: node {name!r} is not in partition {part!r}")
    if spec.exclude:
        members = [n for n in members if n.name not in set(spec.exclude)]
        if len(members) < spec.nodes:
            raise Infeasible(f"exclude: leaves {len(members)} node(s) of partition {part!r}; "
                             f"the job asks {spec.nodes}")
    wanted = len(set(spec.nodelist))
    if wanted > spec.nodes:
        spec = dataclasses.replace(spec, nodes=wanted)
    return spec, members


def gpu_types(cfg: Config) -> dict[str, str]:
    """node -> the model of its GPUs, as configured ([[nodes]] gpu_type)."""
    return {n.name: n.gpu_type for n in cfg.nodes if n.gpu_type}


def _of_gpu_type(spec: JobSpec, cfg: Config, part: str, members: list[Node]) -> list[Node]:
    """The partition's nodes whose GPUs are of the type asked; none: refused, naming
    the types the partition has."""
    types = gpu_types(cfg)
    having = [n for n in members if types.get(n.name) == spec.gpu_type]
    if not having:
        present = sorted({f"gpu:{types[n.name]}" for n in members if n.name in types})
        raise Infeasible(f"gres: asks gpu:{spec.gpu_type}; partition {part!r} has "
                         + (", ".join(present) if present else "no typed GPUs"))
    return having


def _fitter(spec: JobSpec, mem_mb: int | None) -> Callable[[Node], bool]:
    """Whether a node could hold one share of the job (size and features)."""
    cpus, gpus, mem = spec.cpus_per_node, spec.gpus_per_node, mem_mb or 0
    wanted = join_constraint(spec.features)
    ok = compile_constraint(wanted) if wanted else None
    return lambda n: (n.cpus >= cpus and n.gpus >= gpus and n.mem_mb >= mem
                      and (ok is None or ok(frozenset(n.features))))


def _check_fits(spec: JobSpec, mem_mb: int | None, part: str,
                members: list[Node], *, every: bool = True) -> list[Node]:
    """Refuse a job no set of the partition's nodes could hold; -> those that could
    hold one share of it (size and features): all of them when `every`, else the
    first ones found that are enough (a submit's cost does not grow with the
    partition's size when its first nodes will do)."""
    if not every and not spec.nodelist:
        enough = list(islice(filter(_fitter(spec, mem_mb), members), spec.nodes))
        if len(enough) >= spec.nodes:
            return enough
    checks: list[tuple[str, int, Any]] = [
        ("CPUs", spec.cpus_per_node, lambda n: n.cpus),
        ("GPUs", spec.gpus_per_node, lambda n: n.gpus),
    ]
    if mem_mb is not None:
        checks.append(("MB of memory", mem_mb, lambda n: n.mem_mb))
    for what, asked, size in checks:
        largest = max(size(n) for n in members)
        if asked > largest:
            raise Infeasible(
                f"asks {asked} {what} per node; the largest node in partition {part!r} "
                f"has {largest}"
            )
    wanted = join_constraint(spec.features)
    if wanted:
        ok = compile_constraint(wanted)
        having = [n for n in members if ok(frozenset(n.features))]
        if not having:
            raise Infeasible(f"features: no node in partition {part!r} matches {wanted!r}")
        members = having
    fitting = list(filter(_fitter(spec, mem_mb), members))
    small = [name for name in spec.nodelist if name not in {n.name for n in fitting}]
    if small:
        raise Infeasible(f"nodelist: node {small[0]!r} is too small or lacks the features "
                         f"for {spec.cpus_per_node} CPUs, {spec.gpus_per_node} GPUs per node")
    if len(fitting) < spec.nodes:
        raise Infeasible(
            f"nodes: asks {spec.nodes} nodes of that size; partition {part!r} has {len(fitting)}"
        )
    return fitting
