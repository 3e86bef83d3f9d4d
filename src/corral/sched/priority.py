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


def multifactor(
    w: PriorityWeights,
    *,
    now: float,
    t_submit: float,
    cpus: int,
    total_cpus: int,
    tier: int,
    max_tier: int,
    nice: int,
    admin_priority: int | None,
    fairshare: float = 1.0,
    qos: float = 0.0,
) -> float:
    age = _clip01((now - t_submit) / w.max_age_s) if w.max_age_s > 0 else 1.0
    size = _clip01(cpus / total_cpus) if total_cpus > 0 else 0.0
    if w.favor_small:
        size = 1.0 - size
    part = _clip01(tier / max_tier) if max_tier > 0 else 0.0
    nice_f = _clip01((10000 - nice) / 20000)
    value = w.age * age + w.size * size + w.partition * part + w.nice * nice_f
    value += w.fairshare * _clip01(fairshare) + w.qos * _clip01(qos)
    if admin_priority is not None:
        value += w.total + float(admin_priority)
    return value
