"""Which CPUs of this node each running job is bound to (docs/resources.md).

A start order names the CPUs the scheduler chose for the job on this node; the agent
binds the job to exactly those. For an order without them (a controller that does
not choose CPUs, or a node it knows no topology of), the agent chooses them itself
with the same policy (corral.model.placement, whose docstring says what a job gets
by its cpu_bind, core type and GPUs). The agent keeps each run's CPUs in its run
record (agent/runs.py) so that a restarted agent holds them again for the runs it
re-adopts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from corral.agent.protocol import Launch
from corral.logs import log_ids
from corral.model.cpubind import BindOptionError
from corral.model.placement import BindError, CpuAllocator, Placement
from corral.model.topology import format_cpulist

log = logging.getLogger(__name__)


def cpu_mask(cpus: Iterable[int]) -> str:
    """[0, 1, 4] -> '0x13' (Slurm's mask_cpu form)."""
    return hex(sum(1 << c for c in set(cpus)))


def binding_environment(cpus: tuple[int, ...]) -> dict[str, str]:
    """What a bound job is told of its CPUs (none: nothing is set)."""
    if not cpus:
        return {}
    mask = cpu_mask(cpus)
    return {"CORRAL_JOB_CPUS": format_cpulist(cpus), "SLURM_CPU_BIND_TYPE": "mask_cpu:",
            "SLURM_CPU_BIND_LIST": mask, "SLURM_CPU_BIND": f"quiet,mask_cpu:{mask}",
            "SLURM_CPU_BIND_VERBOSE": "quiet"}


def place(alloc: CpuAllocator | None, launch: Launch) -> tuple[int, ...]:
    """The CPUs a run is bound to (() when this node binds none or the job asks for
    none); BindError, BindOptionError: it cannot start as asked."""
    if alloc is None:
        return ()
    if launch.cpu_ids is not None:  # the scheduler chose them
        placement = alloc.given(launch.job_id, launch.cpu_ids)
    else:
        placement = alloc.take(launch.job_id, launch.cpus, cpu_bind=launch.cpu_bind,
                               core_type=launch.core_type, near=launch.gpu_domains,
                               gres_flags=launch.gres_flags)
    if placement.shared and not alloc.told_shared:
        alloc.told_shared = True
        log.warning("more CPUs are in use than the %d this node has: jobs share CPUs "
                    "(the site declares more CPUs for the node than it has)",
                    len(alloc.topology.cpus))
    if placement.note:
        log.log(logging.INFO if placement.shared else logging.WARNING, "job %d: CPUs %s: %s",
                launch.job_id, placement.cpu_list or "-", placement.note,
                extra=log_ids(job_id=launch.job_id))
    elif placement.cpus:
        log.info("job %d: bound to CPUs %s", launch.job_id, placement.cpu_list,
                 extra=log_ids(job_id=launch.job_id))
    return placement.cpus


__all__ = ["BindError", "BindOptionError", "CpuAllocator", "Placement", "binding_environment",
           "place"]
