"""Limits on what a user, an account or a QOS may run at once.

A job over a limit waits with a reason named after the limit (Slurm's names where
Slurm has one); a job that could never fit under a limit is refused at submit.
The controller judges limits before the pure core sees the queue: pending jobs
are admitted in priority order while their owner's room lasts, and each admitted
job takes its room, so one pass can never start more than a limit allows.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Iterable
from dataclasses import dataclass

from corral.config import Config, PartitionConfig
from corral.model.errors import Infeasible, PermissionDenied
from corral.model.job import Job, JobSpec

# (what is counted, key of the counter) -> limit; kinds below
_JOBS, _CPUS, _GPUS = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Rule:
    reason: str
    scope: str  # "user" | "account" | "qos-user"
    kind: int
    limit: int


def _rules(cfg: Config, qos: str | None) -> list[_Rule]:
    lim = cfg.limits
    rules = [
        _Rule("MaxJobsPerUser", "user", _JOBS, lim.max_jobs_per_user),
        _Rule("MaxCpusPerUser", "user", _CPUS, lim.max_cpus_per_user),
        _Rule("MaxGpusPerUser", "user", _GPUS, lim.max_gpus_per_user),
        _Rule("MaxJobsPerAccount", "account", _JOBS, lim.max_jobs_per_account),
        _Rule("MaxCpusPerAccount", "account", _CPUS, lim.max_cpus_per_account),
    ]
    q = next((q for q in cfg.qos if q.name == qos), None) if qos else None
    if q is not None:
        rules += [
            _Rule("QOSMaxJobsPerUserLimit", "qos-user", _JOBS, q.max_jobs_per_user),
            _Rule("QOSMaxCpuPerUserLimit", "qos-user", _CPUS, q.max_cpus_per_user),
        ]
    return [r for r in rules if r.limit > 0]


def _key(rule: _Rule, job: Job) -> str:
    if rule.scope == "user":
        return job.user
    if rule.scope == "account":
        return job.spec.account or f"user:{job.user}"
    return f"{job.spec.qos}:{job.user}"


def _amounts(job: Job) -> tuple[int, int, int]:
    return (1, job.cpus, job.spec.gpus_per_node * job.spec.nodes)


class Tally:
    """What each user/account/QOS runs now, plus what this pass admitted."""

    def __init__(self, cfg: Config, running: Iterable[Job]) -> None:
        self.cfg = cfg
        self.used: dict[tuple[str, str, int], int] = {}
        for job in running:
            self._add(job)

    def _add(self, job: Job) -> None:
        amounts = _amounts(job)
        for rule in _rules(self.cfg, job.spec.qos):
            k = (rule.scope, _key(rule, job), rule.kind)
            self.used[k] = self.used.get(k, 0) + amounts[rule.kind]

    def admit(self, job: Job) -> str | None:
        """None and the job takes its room; else the reason it must wait."""
        amounts = _amounts(job)
        for rule in _rules(self.cfg, job.spec.qos):
            k = (rule.scope, _key(rule, job), rule.kind)
            if self.used.get(k, 0) + amounts[rule.kind] > rule.limit:
                return rule.reason
        self._add(job)
        return None


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
    cpus = spec.cpus_per_node * spec.nodes
    gpus = spec.gpus_per_node * spec.nodes
    for rule in _rules(cfg, spec.qos):
        asked = {_CPUS: cpus, _GPUS: gpus}.get(rule.kind)
        if asked is not None and asked > rule.limit:
            what = "CPUs" if rule.kind == _CPUS else "GPUs"
            raise Infeasible(f"asks {asked} {what}; the {rule.reason} limit is {rule.limit}")


def _groups(user: str, uid: int) -> set[str]:
    names: set[str] = set()
    try:
        gid = pwd.getpwuid(uid).pw_gid
        names.add(grp.getgrgid(gid).gr_name)
        names.update(g.gr_name for g in grp.getgrall() if user in g.gr_mem)
    except KeyError:
        pass
    return names
