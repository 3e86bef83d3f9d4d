"""Matchmaking: node ads, and each waiting job's Requirements and Rank evaluated on them.

Every node publishes an ad (docs/job-languages.md): its size, features, architecture,
OS, partitions, load and the attributes the site gives it in `[[nodes]] attributes`.
A job's Requirements and Rank (ClassAd expressions, evaluated by HTCondor's library
through corral.lang.classads) are evaluated here, never in the scheduling core: the
core receives, per job, the set of eligible nodes and the rank of each
(PendingView.eligible_nodes, .node_rank).

Evaluations are cached by (requirements, rank, what the job asks) until a node's ad
changes, so a thousand tasks of one parametric job cost one evaluation per node.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Iterable, Mapping
from typing import Any

from corral.config import Config, SiteConfig
from corral.lang.classads import AttrValue, holds, make_ad, parse_expr, rank_of, unmet_clause
from corral.model.errors import Infeasible
from corral.model.job import Job, JobSpec
from corral.model.node import Node
from corral.sched.types import PendingView

_ARCH = {"x86_64": "X86_64", "amd64": "X86_64", "aarch64": "aarch64", "arm64": "aarch64",
         "ppc64le": "ppc64le"}
DEFAULT_ARCH = _ARCH.get(platform.machine().lower(), platform.machine())
DEFAULT_OPSYS = platform.system().upper() or "LINUX"

MAX_CACHED = 10_000  # evaluations kept between node changes
UNLIMITED_MIN = 2**31 - 1  # GlueCEPolicyMaxWallClockTime of a partition without a limit
# submissions found satisfiable, by what they ask and the nodes they were judged on
_ACCEPTED: set[tuple[Any, ...]] = set()
Placement = tuple[frozenset[str] | None, tuple[tuple[str, float], ...]]


def node_attrs(node: Node, partitions: list[str], site: Mapping[str, AttrValue],
               *, idle: bool = False, max_time_s: int = 0) -> dict[str, AttrValue]:
    """The node's ad as a dict. `idle`: as if nothing ran there (what a job could
    ever get), for the check at submit. `max_time_s`: the longest time limit its
    partitions allow (0: none)."""
    used_c, used_m, used_g = (0, 0, 0) if idle else (node.cpus_used, node.mem_mb_used,
                                                     node.gpus_used)
    up = idle or (node.reachable and not node.drain)
    wall_min = max_time_s // 60 if max_time_s else UNLIMITED_MIN
    attrs: dict[str, AttrValue] = {
        "Name": node.name, "Machine": node.name,
        "Cpus": node.cpus, "Memory": node.mem_mb, "Gpus": node.gpus,
        "Features": list(node.features),
        "Arch": DEFAULT_ARCH, "OpSys": DEFAULT_OPSYS,
        "Partition": partitions[0] if partitions else "", "Partitions": partitions,
        "FreeCpus": node.cpus - used_c, "FreeMemory": node.mem_mb - used_m,
        "FreeGpus": node.gpus - used_g,
        "LoadAvg": round(used_c / node.cpus, 3) if node.cpus else 0.0,
        "State": "Idle" if used_c == 0 else "Busy",
        # the GLUE 1.3 names gLite JDLs use (Requirements, Rank)
        "GlueHostMainMemoryRAMSize": node.mem_mb, "GlueHostLogicalCPUs": node.cpus,
        "GlueHostArchitectureSMPSize": node.cpus,
        "GlueHostArchitecturePlatformType": DEFAULT_ARCH.lower(),
        "GlueHostOperatingSystemName": DEFAULT_OPSYS.capitalize(),
        "GlueCEUniqueID": f"{node.name}:8443/corral-{partitions[0] if partitions else ''}",
        "GlueCEStateStatus": "Production" if up else "Draining",
        "GlueCEStateFreeCPUs": node.cpus - used_c,
        "GlueCEStateEstimatedResponseTime": 0 if used_c == 0 else 60,
        "GlueCEPolicyMaxWallClockTime": wall_min, "GlueCEPolicyMaxCPUTime": wall_min,
        # its site (docs/pilots.md): other.Site == "x" requires it
        "Site": node.site, "Pilot": node.t_deadline is not None,
    }
    attrs.update(site)
    return attrs


def job_attrs(spec: JobSpec, partition: str, mem_mb: int | None) -> dict[str, AttrValue]:
    """The job's own ad (MY), what its expressions read without `other.`."""
    return {"RequestCpus": spec.cpus_per_node, "RequestMemory": mem_mb or 0,
            "RequestGpus": spec.gpus_per_node, "RequestNodes": spec.nodes,
            "JobPartition": partition}


def _partitions_of(cfg: Config, name: str) -> list[str]:
    return [p.name for p in cfg.partitions if p.nodes == "ALL" or name in p.nodes]


def _max_time_s(cfg: Config, partitions: list[str]) -> int:
    limits = [p.max_time_s for p in cfg.partitions if p.name in partitions]
    return 0 if not limits or 0 in limits else max(limits)


def _ad(cfg: Config, site: Mapping[str, Mapping[str, AttrValue]], node: Node,
        idle: bool = False) -> Any:
    parts = _partitions_of(cfg, node.name)
    return make_ad(node_attrs(node, parts, site.get(node.name, {}), idle=idle,
                              max_time_s=_max_time_s(cfg, parts)))


def _site(cfg: Config) -> dict[str, Mapping[str, AttrValue]]:
    return {n.name: n.attributes for n in cfg.nodes}


def check_requirements(cfg: Config, spec: JobSpec, partition: str, mem_mb: int | None,
                       members: Iterable[Node]) -> None:
    """At submit: refuse a job whose Requirements too few of the nodes that could hold
    it (`members`, idle) meet, naming the first clause none meets; a bad expression is
    refused too."""
    if spec.rank is not None:
        parse_expr("rank", spec.rank)
    if spec.requirements is None:
        return
    members = list(members)
    key = (id(cfg), spec.requirements, partition, spec.cpus_per_node, mem_mb, spec.gpus_per_node,
           spec.nodes, tuple((n.name, n.cpus, n.mem_mb, n.gpus, n.features) for n in members))
    if key in _ACCEPTED:  # a batch of jobs alike (a parametric JDL): judged once
        return
    expr = parse_expr("requirements", spec.requirements)
    site = _site(cfg)
    my = make_ad(job_attrs(spec, partition, mem_mb))
    ads = [_ad(cfg, site, n, idle=True) for n in members]
    meeting = sum(1 for ad in ads if holds(expr, my, ad))
    if meeting >= spec.nodes:
        if len(_ACCEPTED) >= 256:
            _ACCEPTED.clear()
        _ACCEPTED.add(key)
        return
    if meeting:
        raise Infeasible(f"requirements: asks {spec.nodes} nodes; {meeting} of partition "
                         f"{partition!r} that could hold it meet {spec.requirements!r}")
    clause = unmet_clause(spec.requirements, my, ads)
    if clause is not None:
        raise Infeasible(f"requirements: no node in partition {partition!r} meets "
                         f"{clause!r}")
    raise Infeasible(f"requirements: no node in partition {partition!r} meets all of "
                     f"{spec.requirements!r} at once (each clause alone is met somewhere)")


class Matchmaker:
    """The node ads of the current pass and the cached evaluations on them."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._site = _site(cfg)
        self._fingerprint: dict[str, tuple[Any, ...]] = {}  # node -> what its ad says
        self._ads: dict[str, Any] = {}
        self._cache: dict[tuple[Any, ...], Placement] = {}
        self._pending: Iterable[Node] | None = None  # nodes to look at before the next use
        self.evaluations = 0  # expressions evaluated (for tests and metrics)

    def refresh(self, nodes: Iterable[Node]) -> None:
        """The nodes may have changed: look at them when a job next needs the ads (a
        pass without Requirements or Rank costs nothing)."""
        self._pending = nodes

    def _update(self) -> None:
        """Rebuild the ads of the nodes that changed since they were built (a node
        gone: its ad dropped); any change drops the cached evaluations."""
        if self._pending is None:
            return
        nodes = list(self._pending)
        self._pending = None
        changed = False
        seen = set()
        for n in nodes:
            seen.add(n.name)
            fp = (n.cpus, n.mem_mb, n.gpus, n.features, n.cpus_used, n.mem_mb_used,
                  n.gpus_used, n.reachable, n.drain, n.site, n.t_deadline is None)
            if self._fingerprint.get(n.name) != fp:
                self._fingerprint[n.name] = fp
                self._ads[n.name] = _ad(self.cfg, self._site, n)
                changed = True
        for name in [name for name in self._ads if name not in seen]:
            del self._ads[name], self._fingerprint[name]
            changed = True
        if changed:
            self._cache.clear()

    def place(self, job: Job) -> Placement:
        """(the nodes meeting its Requirements or None, its rank of each node)."""
        return self.place_spec(job.spec, job.partition, job.mem_mb_per_node)

    def place_spec(self, spec: JobSpec, partition: str, mem_mb: int | None) -> Placement:
        self._update()
        key = (spec.requirements, spec.rank, partition, spec.cpus_per_node, mem_mb,
               spec.gpus_per_node, spec.nodes)
        got = self._cache.get(key)
        if got is not None:
            return got
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        my = make_ad(job_attrs(spec, partition, mem_mb))
        eligible: frozenset[str] | None = None
        if spec.requirements:
            try:
                expr = parse_expr("requirements", spec.requirements)
            except Exception:
                expr = None
            eligible = frozenset(name for name, ad in self._ads.items()
                                 if expr is not None and holds(expr, my, ad))
            self.evaluations += len(self._ads)
        ranks: tuple[tuple[str, float], ...] = ()
        if spec.rank:
            try:
                rexpr = parse_expr("rank", spec.rank)
            except Exception:
                rexpr = None
            if rexpr is not None:
                ranks = tuple((name, rank_of(rexpr, my, ad)) for name, ad in self._ads.items()
                              if eligible is None or name in eligible)
                self.evaluations += len(ranks)
        got = self._cache[key] = (eligible, ranks)
        return got

    def apply(self, job: Job, view: PendingView) -> PendingView:
        """The job's scheduling view with its eligible nodes and ranks filled in."""
        return self.apply_spec(job.spec, job.partition, job.mem_mb_per_node, view)

    def apply_spec(self, spec: JobSpec, partition: str, mem_mb: int | None,
                   view: PendingView) -> PendingView:
        if not spec.requirements and not spec.rank:
            return view
        eligible, ranks = self.place_spec(spec, partition, mem_mb)
        return dataclasses.replace(view, eligible_nodes=eligible, node_rank=ranks)

    def unmet(self, job: Job) -> tuple[str | None, list[str]]:
        """For `corral explain`: (the first Requirements clause no node meets now or
        None, the nodes that meet the whole of it)."""
        if not job.spec.requirements:
            return None, []
        self._update()
        my = make_ad(job_attrs(job.spec, job.partition, job.mem_mb_per_node))
        eligible, _ = self.place(job)
        names = sorted(eligible or ())
        if names:
            return None, names
        return unmet_clause(job.spec.requirements, my, self._ads.values()), []


def explain_lines(match: Matchmaker | None, job: Job) -> list[str]:
    """What `corral explain` says of a waiting job's Requirements."""
    if match is None or not job.spec.requirements:
        return []
    clause, names = match.unmet(job)
    if names:
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10
                                          else "")
        return [f"Its Requirements are met by node(s) {shown}."]
    if clause is not None:
        return [f"No node meets its requirement {clause!r} now "
                f"(Requirements = {job.spec.requirements})."]
    return [f"No node meets all of its Requirements at once ({job.spec.requirements})."]


def pilot_prototype(site: SiteConfig) -> Node:
    """A pilot of the site as it would register (idle): what a job's Requirements are
    judged on before any pilot of the site exists (at submit, and for the site's
    demand). Its name cannot be a real node's."""
    return Node(name=f"{site.name}:pilot", cpus=site.pilot_cpus, mem_mb=site.pilot_mem_mb,
                reachable=True, site=site.name, t_deadline=float(site.pilot_wall_time_s))


def pilot_could_run(cfg: Config, site: SiteConfig, jobs: Iterable[Job]) -> list[Job]:
    """The jobs a new pilot of the site could run: one node, no GPUs or features, of
    a pilot's size, a time limit within a pilot's life, in a partition that takes
    every node, and Requirements that hold on the pilot's ad."""
    proto = pilot_prototype(site)
    open_parts = {p.name for p in cfg.partitions if p.nodes == "ALL"}
    parts = [p.name for p in cfg.partitions if p.nodes == "ALL"]
    ad = make_ad(node_attrs(proto, parts, {}, idle=True))
    verdicts: dict[tuple[Any, ...], bool] = {}
    out = []
    for job in jobs:
        spec = job.spec
        if (spec.nodes != 1 or spec.gpus_per_node or spec.features or spec.nodelist
                or job.partition not in open_parts
                or spec.cpus_per_node > site.pilot_cpus
                or (job.mem_mb_per_node or 0) > site.pilot_mem_mb
                or not 0 < job.time_limit_s <= site.pilot_time_s):
            continue
        if spec.requirements:
            key = (spec.requirements, job.partition, spec.cpus_per_node, job.mem_mb_per_node)
            ok = verdicts.get(key)
            if ok is None:
                try:
                    expr = parse_expr("requirements", spec.requirements)
                except Exception:
                    ok = False
                else:
                    my = make_ad(job_attrs(spec, job.partition, job.mem_mb_per_node))
                    ok = holds(expr, my, ad)
                verdicts[key] = ok
            if not ok:
                continue
        out.append(job)
    return out
