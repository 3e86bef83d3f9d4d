"""The normalized form of a pending job that policies and machines work on."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping


class Req:
    """One pending job as the planner sees it.

    `dur_s` is the duration used for planning (the time limit, or an EASY++
    prediction); `math.inf` means unlimited. `procs` is the total processor
    count (nodes x cpus_per_node), the only resource of the count machine.
    """

    __slots__ = (
        "bind",
        "core_type",
        "cpus",
        "dur_s",
        "exclusive",
        "feature_ok",
        "gpus",
        "gres",
        "job_id",
        "limit_s",
        "mem_mb",
        "node_names",
        "nodes",
        "priority",
        "procs",
        "rank",
        "required",
        "resv",
        "resv_window",
        "t_submit",
        "user",
    )

    def __init__(
        self,
        job_id: int,
        procs: int,
        limit_s: float,
        t_submit: float,
        user: str = "",
        *,
        nodes: int = 1,
        cpus: int | None = None,
        mem_mb: int = 0,
        gpus: int = 0,
        exclusive: bool = False,
        feature_ok: Callable[[frozenset[str]], bool] | None = None,
        node_names: frozenset[str] | None = None,
        priority: float = 0.0,
        resv: str | None = None,
        resv_window: tuple[float, float] | None = None,
        required: frozenset[str] = frozenset(),
        rank: Mapping[str, float] | None = None,
        gres: tuple[tuple[str, int], ...] = (),
        core_type: str = "",
        bind: tuple[str, str, str] = ("", "", ""),
    ) -> None:
        self.job_id = job_id
        self.procs = procs
        self.limit_s = limit_s if limit_s > 0 else math.inf
        self.dur_s = self.limit_s
        self.t_submit = t_submit
        self.user = user
        self.nodes = nodes
        self.cpus = procs if cpus is None else cpus
        self.mem_mb = mem_mb
        self.gpus = gpus
        self.exclusive = exclusive
        self.feature_ok = feature_ok
        self.node_names = node_names
        self.priority = priority
        self.resv = resv  # advance reservation the job runs in
        self.resv_window = resv_window  # its [t_start, t_end)
        self.required = required  # nodes the allocation must include (among node_names)
        self.rank = rank  # node -> preference (higher first); None: the machine's order
        self.gres = gres  # generic resources per node, (name, count) sorted by name
        # the core type all its CPUs must be of, on nodes with core types ("": any)
        self.core_type = core_type
        # how its CPU ids are chosen: (cpu_bind, preferred core type, gres_flags)
        self.bind = bind

    def __repr__(self) -> str:
        return f"Req(job_id={self.job_id}, procs={self.procs}, dur_s={self.dur_s})"
