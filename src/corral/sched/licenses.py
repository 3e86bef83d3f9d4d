"""Cluster-wide licenses (Snapshot.licenses): a waiting job is admitted in priority
order while the licenses it asks for last, each admitted job taking its share, so one
pass never hands out more than the cluster has. A job left out waits with reason
`Licenses` (Slurm's)."""

from __future__ import annotations

from corral.sched.types import PendingView, RunningView


class LicensePool:
    def __init__(self, total: dict[str, int], running: tuple[RunningView, ...]) -> None:
        self.total = total
        self.used: dict[str, int] = {}
        for r in running:
            for name, count in r.licenses:
                self.used[name] = self.used.get(name, 0) + count

    @property
    def active(self) -> bool:
        return bool(self.total)

    def admit(self, job: PendingView) -> bool:
        """True, and the job takes its licenses; False if one of them is short now."""
        for name, count in job.licenses:
            if self.used.get(name, 0) + count > self.total.get(name, 0):
                return False
        for name, count in job.licenses:
            self.used[name] = self.used.get(name, 0) + count
        return True
