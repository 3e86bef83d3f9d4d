"""Limits on what a user, an account or a QOS runs at once (Snapshot.limits).

Pure: a tally of what runs now; waiting jobs are admitted in priority order while
their owner's room lasts, each admitted job taking its room, so one cycle can
never start more than a limit allows. Reasons carry the limit's name (Slurm's
where Slurm has one).
"""

from __future__ import annotations

from corral.sched.types import Limits, PendingView, RunningView

_JOBS, _CPUS, _GPUS = 0, 1, 2


def _rules(lim: Limits, qos: str | None, user: str,
           account: str | None) -> list[tuple[str, str, int, int]]:
    """(reason, scope, kind, limit) of every limit that applies, limit > 0."""
    rules = [
        ("MaxJobsPerUser", "user", _JOBS, lim.max_jobs_per_user),
        ("MaxCpusPerUser", "user", _CPUS, lim.max_cpus_per_user),
        ("MaxGpusPerUser", "user", _GPUS, lim.max_gpus_per_user),
        ("MaxJobsPerAccount", "account", _JOBS, lim.max_jobs_per_account),
        ("MaxCpusPerAccount", "account", _CPUS, lim.max_cpus_per_account),
    ]
    if qos is not None:
        rules.append(("QOSMaxJobsPerUserLimit", "qos", _JOBS,
                      lim.qos_max_jobs_per_user.get(qos, 0)))
        rules.append(("QOSMaxCpuPerUserLimit", "qos", _CPUS,
                      lim.qos_max_cpus_per_user.get(qos, 0)))
    if account is not None and lim.assoc_max_jobs:
        limit = lim.assoc_max_jobs.get((user, account))
        if limit is not None:  # 0 too: no job of this association runs
            rules.append(("AssocMaxJobsLimit", "assoc", _JOBS, limit))
    return [r for r in rules if r[3] > 0 or r[1] == "assoc"]


def _key(scope: str, user: str, account: str | None, qos: str | None) -> str:
    if scope == "user":
        return user
    if scope == "account":
        return account or f"user:{user}"
    if scope == "assoc":
        return f"{user}\0{account}"
    return f"{qos}:{user}"


class Tally:
    def __init__(self, limits: Limits, running: tuple[RunningView, ...]) -> None:
        self.limits = limits
        self.used: dict[tuple[str, str, int], int] = {}
        self.active = limits != Limits()
        if self.active:
            for r in running:
                n = len(r.nodes)
                self._add(r.user, r.account, r.qos,
                          (1, r.cpus_per_node * n, r.gpus_per_node * n))

    def _add(self, user: str, account: str | None, qos: str | None,
             amounts: tuple[int, int, int]) -> None:
        for _, scope, kind, _limit in _rules(self.limits, qos, user, account):
            k = (scope, _key(scope, user, account, qos), kind)
            self.used[k] = self.used.get(k, 0) + amounts[kind]

    def admit(self, job: PendingView) -> str | None:
        """None, and the job takes its room; else the name of the limit it is over."""
        if not self.active:
            return None
        amounts = (1, job.cpus_per_node * job.nodes, job.gpus_per_node * job.nodes)
        for reason, scope, kind, limit in _rules(self.limits, job.qos, job.user, job.account):
            k = (scope, _key(scope, job.user, job.account, job.qos), kind)
            if self.used.get(k, 0) + amounts[kind] > limit:
                return reason
        self._add(job.user, job.account, job.qos, amounts)
        return None
