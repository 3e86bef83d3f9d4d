"""Node records: what an agent reported and what the controller allocated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corral.model.states import NodeState, derive_node_state
from corral.model.topology import Topology


@dataclass(slots=True)
class Node:
    name: str
    cpus: int
    mem_mb: int
    gpus: int = 0
    features: tuple[str, ...] = ()
    reachable: bool = False
    drain: bool = False
    drain_reason: str = ""
    # who drained it: "admin", or the agent's own checks ("health", "prolog", "epilog");
    # a passing health check resumes only a node that the health check drained
    drain_by: str = ""
    t_last_seen: float = 0.0
    cpus_used: int = 0
    mem_mb_used: int = 0
    gpus_used: int = 0
    jobs: set[int] = field(default_factory=set)
    gpu_ids_used: set[int] = field(default_factory=set)  # device indices 0..gpus-1 held
    # the CPUs as its agent last reported them (model.agent_messages.AgentTopology)
    topology: dict[str, Any] | None = None
    # each GPU's NUMA domain by device index, as the agent read it or the site
    # configured it ([[nodes]] gpu_numa); empty: unknown
    gpu_numa: tuple[int, ...] = ()
    # each CPU's socket, core, NUMA domain and core type as its agent reported them
    # (None: not reported: the scheduler only counts CPUs here), and the CPU ids each
    # running job holds here (job id -> ids; the scheduler chose them)
    cpu_layout: Topology | None = None
    cpus_held: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # generic resources other than GPUs (`[[nodes]] gres`), and what running jobs hold
    gres: dict[str, int] = field(default_factory=dict)
    gres_used: dict[str, int] = field(default_factory=dict)
    # the site it belongs to ("": none), and for a pilot (docs/pilots.md) the end of its
    # allocation: no job whose time limit reaches past it starts here
    site: str = ""
    t_deadline: float | None = None
    batch_job: str = ""  # a pilot's job id in its site's batch system

    @property
    def state(self) -> NodeState:
        return derive_node_state(
            reachable=self.reachable, drain=self.drain,
            cpus_used=self.cpus_used, cpus_total=self.cpus,
        )

    def has_room(self, *, cpus: int, gpus: int, mem_mb: int = 0) -> bool:
        """Whether this many CPUs, GPUs and MiB are free here now."""
        return (self.cpus - self.cpus_used >= cpus and self.gpus - self.gpus_used >= gpus
                and self.mem_mb - self.mem_mb_used >= mem_mb)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": str(self.state),
            "cpus": self.cpus,
            "cpus_used": self.cpus_used,
            "mem_mb": self.mem_mb,
            "mem_mb_used": self.mem_mb_used,
            "gpus": self.gpus,
            "gpus_used": self.gpus_used,
            "features": list(self.features),
            "drain_reason": self.drain_reason,
            "drain_by": self.drain_by,
            "t_last_seen": self.t_last_seen,
            "jobs": sorted(self.jobs),
            "topology": self.topology,
            "gres": dict(sorted(self.gres.items())),
            "gres_used": dict(sorted(self.gres_used.items())),
            "site": self.site,
            "t_deadline": self.t_deadline,
            "batch_job": self.batch_job,
        }
