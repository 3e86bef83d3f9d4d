"""Site limits: the pure core's Limits from the configuration, and the refusals
at submit of what no limit would ever let run (corral.sched.limits judges the
rest at every scheduling pass).
"""

from __future__ import annotations

import grp
import pwd

from corral.config import Config, PartitionConfig
from corral.model.errors import Infeasible, PermissionDenied
from corral.model.job import JobSpec
from corral.sched.types import Limits, SiteLimits


def limits_of(cfg: Config) -> Limits:
    lim = cfg.limits
    return Limits(
        max_jobs_per_user=lim.max_jobs_per_user, max_cpus_per_user=lim.max_cpus_per_user,
        max_gpus_per_user=lim.max_gpus_per_user, max_jobs_per_account=lim.max_jobs_per_account,
        max_cpus_per_account=lim.max_cpus_per_account,
        qos_max_jobs_per_user={q.name: q.max_jobs_per_user for q in cfg.qos
                               if q.max_jobs_per_user},
        qos_max_cpus_per_user={q.name: q.max_cpus_per_user for q in cfg.qos
                               if q.max_cpus_per_user},
    )


def site_limits_of(cfg: Config) -> dict[str, SiteLimits]:
    """Site -> what one user may run at once on its nodes ([limits.sites.NAME])."""
    return {name: SiteLimits(max_jobs_per_user=lim.max_jobs_per_user,
                             max_cpus_per_user=lim.max_cpus_per_user)
            for name, lim in cfg.limits.sites.items()
            if lim.max_jobs_per_user or lim.max_cpus_per_user}


def check_at_submit(cfg: Config, part: PartitionConfig, spec: JobSpec, user: str,
                    uid: int) -> None:
    """Refuse what no limit would ever let run, and partitions closed to the owner."""
    if part.allow_accounts and spec.account not in part.allow_accounts:
        raise PermissionDenied(
            f"account: partition {part.name!r} admits accounts {', '.join(part.allow_accounts)}"
            f"; not {spec.account!r}")
    if part.allow_groups and not set(part.allow_groups) & _groups(user, uid):
        raise PermissionDenied(
            f"partition {part.name!r} admits groups {', '.join(part.allow_groups)}; "
            f"user {user!r} is in none of them")
    lim = limits_of(cfg)
    cpus = spec.cpus_per_node * spec.nodes
    gpus = spec.gpus_per_node * spec.nodes
    caps = [("MaxCpusPerUser", "CPUs", cpus, lim.max_cpus_per_user),
            ("MaxGpusPerUser", "GPUs", gpus, lim.max_gpus_per_user),
            ("MaxCpusPerAccount", "CPUs", cpus, lim.max_cpus_per_account)]
    if spec.qos:
        caps.append(("QOSMaxCpuPerUserLimit", "CPUs", cpus,
                     lim.qos_max_cpus_per_user.get(spec.qos, 0)))
    for name, what, asked, limit in caps:
        if limit and asked > limit:
            raise Infeasible(f"asks {asked} {what}; the {name} limit is {limit}")


def _groups(user: str, uid: int) -> set[str]:
    names: set[str] = set()
    try:
        gid = pwd.getpwuid(uid).pw_gid
        names.add(grp.getgrgid(gid).gr_name)
        names.update(g.gr_name for g in grp.getgrall() if user in g.gr_mem)
    except KeyError:
        pass
    return names
