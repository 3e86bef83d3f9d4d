"""Fair-share usage: CPU-seconds charged per account and user, decayed exponentially.

Charged from what jobs really used: allocated CPUs x the time they really ran
(not what they asked for). Rebuilt from the store's finished jobs at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable

from corral.model.job import Job
from corral.sched.fairshare import decay_usage


def entity(job: Job) -> str:
    """Who a job's usage is charged to: its account, else its user."""
    return job.spec.account or job.user


def charge_of(job: Job) -> float:
    if job.t_start is None or job.t_end is None:
        return 0.0
    return max(0.0, job.t_end - job.t_start) * job.cpus


Key = tuple[str | None, str]  # (account, user)


class Usage:
    def __init__(self, half_life_s: float) -> None:
        self.half_life_s = half_life_s
        self._usage: dict[Key, float] = {}
        self._t = 0.0

    def _decay_to(self, now: float) -> None:
        if self._t and now > self._t:
            self._usage = decay_usage(self._usage, now - self._t, self.half_life_s)
        self._t = max(self._t, now)

    def charge(self, who: Key, cpu_s: float, t_end: float, now: float) -> None:
        """Add usage that accrued up to t_end (already decayed from then to now)."""
        self._decay_to(now)
        age = max(0.0, now - t_end)
        value = cpu_s * (0.5 ** (age / self.half_life_s) if self.half_life_s > 0 else 1.0)
        self._usage[who] = self._usage.get(who, 0.0) + value

    def charge_job(self, job: Job, now: float) -> None:
        cpu_s = charge_of(job)
        if cpu_s > 0 and job.t_end is not None:
            self.charge((job.spec.account, job.user), cpu_s, job.t_end, now)

    def load(self, jobs: Iterable[Job], now: float) -> None:
        for job in jobs:
            if job.state.is_final:
                self.charge_job(job, now)

    def current(self, now: float) -> dict[str, float]:
        """Per fair-share entity: the account, else the user."""
        self._decay_to(now)
        out: dict[str, float] = {}
        for (account, user), v in self._usage.items():
            key = account or user
            out[key] = out.get(key, 0.0) + v
        return out

    def by_association(self, now: float) -> dict[tuple[str, str], float]:
        """Per (account, user), for the jobs that named an account."""
        self._decay_to(now)
        return {(a, u): v for (a, u), v in self._usage.items() if a is not None}
