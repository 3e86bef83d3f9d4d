"""A submission tried without queueing it: when and where it would start
(Slurm's `sbatch --test-only`). Checked as a real submit is; nothing is stored."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from corral.model.errors import Infeasible
from corral.model.job import JobSpec
from corral.sched.types import PendingView
from corral.sched.will_run import will_run
from corral.services.identity import Caller
from corral.services.limits import check_at_submit
from corral.services.submit import resolve

if TYPE_CHECKING:
    from corral.services.controller import Controller


def estimate(ctl: Controller, caller: Caller, spec: JobSpec,
             user: str | None = None) -> dict[str, Any]:
    """-> {"id": the id it would get, "t_expected_start", "nodes", "partition",
    "cpus"}; refused (as submit would refuse it) or Infeasible if it can never start."""
    owner = ctl.access.submit_owner(caller, user, ctl.roles)
    ctl.access.check_submit(caller, spec)
    spec = ctl.submit_filter.apply(caller, spec)  # as a submit would be amended or refused
    res = resolve(spec, ctl.cfg, ctl.nodes.values())
    part = ctl.cfg.partition(res.partition)
    assert part is not None  # resolve() found it
    check_at_submit(ctl.cfg, part, res.spec, owner.user, owner.uid)
    if ctl.scheduler is None:
        raise Infeasible("the scheduler is not running yet; try again")
    next_id = max(ctl.jobs, default=0) + 1
    view = PendingView(
        job_id=next_id, user=owner.user, account=spec.account, partition=res.partition,
        nodes=spec.nodes, cpus_per_node=spec.cpus_per_node,
        mem_mb_per_node=res.mem_mb_per_node or 0, gpus_per_node=spec.gpus_per_node,
        time_limit_s=res.time_limit_s or math.inf, t_submit=time.time(),
        t_begin=spec.t_begin, held=False, nice=spec.nice, admin_priority=spec.priority,
        constraint="&".join(spec.features) or None, exclusive=spec.exclusive,
        qos=spec.qos, reservation=spec.reservation)
    snap = ctl.scheduler.snapshot()
    view = ctl.scheduler.match.apply_spec(res.spec, res.partition, res.mem_mb_per_node, view)
    found = will_run(snap, ctl.scheduler.policy, view, time.time())
    if found is None:
        raise Infeasible(f"partition {res.partition!r}: no node that is up could ever "
                         "hold the job")
    t_start, nodes = found
    return {"id": next_id, "t_expected_start": t_start, "nodes": list(nodes),
            "partition": res.partition, "cpus": spec.nodes * spec.cpus_per_node}
