"""When and where a job would start if submitted now (Slurm's `sbatch --test-only`).

As Slurm's will-run test, the estimate counts the running jobs (ending at their
planned end) and the advance reservations, not the other pending jobs. Pure.
"""

from __future__ import annotations

import math

from corral.sched.constraint import compile_constraint
from corral.sched.cycle import node_machine
from corral.sched.policies import Policy
from corral.sched.request import Req
from corral.sched.types import PendingView, Snapshot


def will_run(snapshot: Snapshot, policy: Policy, job: PendingView,
             now: float) -> tuple[float, tuple[str, ...]] | None:
    """(the earliest start, the nodes) for `job`, or None if it can never start
    (no such partition, or no nodes of it could ever hold the job)."""
    part = snapshot.partitions.get(job.partition)
    if part is None:
        return None
    m = node_machine(snapshot, policy, now)
    limit = job.time_limit_s if job.time_limit_s > 0 else math.inf
    req = Req(job.job_id, job.nodes * job.cpus_per_node, limit, now, job.user,
              nodes=job.nodes, cpus=job.cpus_per_node, mem_mb=job.mem_mb_per_node,
              gpus=job.gpus_per_node, exclusive=job.exclusive,
              feature_ok=compile_constraint(job.constraint) if job.constraint else None,
              node_names=(part.nodes if job.eligible_nodes is None
                          else part.nodes & job.eligible_nodes), priority=0.0,
              rank=dict(job.node_rank) if job.node_rank else None, gres=job.gres_per_node)
    if not m.could_ever_fit(req):
        return None
    t_from = max(now, job.t_begin or now)
    if t_from <= now:
        nodes = m.try_start(req)
        if nodes is not None:
            return now, nodes
    t = m.reserve(req, t_from)
    if t == math.inf:
        return None
    return t, m.reserved_nodes()
