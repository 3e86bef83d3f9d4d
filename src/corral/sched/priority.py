"""Multifactor priority: a weighted sum of factors, each normalized to [0, 1].

priority = w_age * age + w_size * size + w_partition * partition + w_nice * nice
           + w_fairshare * fairshare + w_qos * qos
(+ admin_priority, which overrides everything when set: it is added on top of
the largest possible weighted sum, so an administrator's value always wins.)

- age: (now - t_submit) / max_age_s, capped at 1.
- size: requested CPUs / total CPUs in the cluster (favor_small inverts it).
- partition: the partition's priority_tier / the largest tier.
- nice: (10000 - nice) / 20000 clipped to [0, 1] (nice in -10000..10000, lower
  is better, 0 is neutral = 0.5).
- fairshare: 2^(-usage share / allotted share) of the job's account
  (corral.sched.fairshare); 1 when there is no usage.
- qos: the QOS priority / the largest QOS priority.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class PriorityWeights:
    age: float = 1000.0
    size: float = 0.0
    partition: float = 0.0
    nice: float = 0.0
    fairshare: float = 0.0
    qos: float = 0.0
    max_age_s: float = 7 * 24 * 3600.0
    favor_small: bool = False

    @property
    def total(self) -> float:
        return self.age + self.size + self.partition + self.nice + self.fairshare + self.qos


def _clip01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


class Factors(NamedTuple):
    """A job's priority, factor by factor (each already weighted), as sprio shows it."""

    age: float
    size: float
    partition: float
    nice: float
    fairshare: float
    qos: float
    admin: float  # an administrator's fixed priority (plus the sum of the weights)

    @property
    def total(self) -> float:
        return (self.age + self.size + self.partition + self.nice + self.fairshare
                + self.qos + self.admin)


class Scorer:
    """The multifactor priority of many jobs at one instant (a scheduling pass):
    what does not depend on the job is worked out once."""

    __slots__ = ("_inv_age", "_inv_cpus", "_inv_tier", "now", "w", "w_total")

    def __init__(self, w: PriorityWeights, *, now: float, total_cpus: int,
                 max_tier: int) -> None:
        self.w = w
        self.now = now
        self.w_total = w.total
        self._inv_age = 1.0 / w.max_age_s if w.max_age_s > 0 else 0.0
        self._inv_cpus = 1.0 / total_cpus if total_cpus > 0 else 0.0
        self._inv_tier = 1.0 / max_tier if max_tier > 0 else 0.0

    def __call__(self, t_submit: float, cpus: int, tier: int, nice: int,
                 admin_priority: int | None, fairshare: float = 1.0,
                 qos: float = 0.0) -> Factors:
        w = self.w
        age = 0.0
        if w.age:
            age = (self.now - t_submit) * self._inv_age if self._inv_age else 1.0
            age = w.age * (0.0 if age < 0.0 else 1.0 if age > 1.0 else age)
        size = 0.0
        if w.size:
            size = _clip01(cpus * self._inv_cpus)
            size = w.size * (1.0 - size if w.favor_small else size)
        part = w.partition * _clip01(tier * self._inv_tier) if w.partition else 0.0
        nice_f = w.nice * _clip01((10000 - nice) / 20000) if w.nice else 0.0
        fs = w.fairshare * _clip01(fairshare) if w.fairshare else 0.0
        q = w.qos * _clip01(qos) if w.qos else 0.0
        admin = self.w_total + float(admin_priority) if admin_priority is not None else 0.0
        return Factors(age, size, part, nice_f, fs, q, admin)

