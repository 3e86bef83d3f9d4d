"""The multifactor priority, factor by factor."""

from __future__ import annotations

import pytest

from corral.model.job import PRIORITY_FACTORS
from corral.sched.priority import Factors, PriorityWeights, Scorer

W = PriorityWeights(age=1000, size=100, partition=10, nice=50, fairshare=500, qos=200,
                    max_age_s=1000.0)


def test_each_factor_is_weighted_and_clipped_to_its_weight() -> None:
    score = Scorer(W, now=2000.0, total_cpus=100, max_tier=4)
    f = score(t_submit=1500.0, cpus=25, tier=2, nice=0, admin_priority=None,
              fairshare=0.5, qos=2.0)
    assert f.age == pytest.approx(500.0)  # half of max_age_s
    assert f.size == pytest.approx(25.0)
    assert f.partition == pytest.approx(5.0)
    assert f.nice == pytest.approx(25.0)  # nice 0 is neutral: 0.5
    assert f.fairshare == pytest.approx(250.0)
    assert f.qos == pytest.approx(200.0)  # clipped to 1
    assert f.admin == 0.0
    assert f.total == pytest.approx(sum(f))
    old = score(t_submit=-1e9, cpus=1000, tier=9, nice=-20000, admin_priority=None)
    assert (old.age, old.size, old.partition, old.nice) == (1000.0, 100.0, 10.0, 50.0)


def test_an_administrators_priority_beats_any_weighted_sum() -> None:
    score = Scorer(W, now=2000.0, total_cpus=100, max_tier=4)
    best = score(t_submit=0.0, cpus=100, tier=4, nice=-10000, admin_priority=None,
                 fairshare=1.0, qos=1.0)
    fixed = score(t_submit=2000.0, cpus=1, tier=0, nice=10000, admin_priority=0,
                  fairshare=0.0, qos=0.0)
    assert fixed.total > best.total


def test_the_factor_names_are_the_models() -> None:
    assert Factors._fields == PRIORITY_FACTORS


def test_zero_weights_and_small_jobs_first() -> None:
    only_age = Scorer(PriorityWeights(), now=100.0, total_cpus=0, max_tier=0)
    f = only_age(t_submit=100.0, cpus=4, tier=0, nice=0, admin_priority=None)
    assert f == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    small = Scorer(PriorityWeights(age=0, size=100, favor_small=True), now=0.0,
                   total_cpus=100, max_tier=0)
    assert small(0.0, 10, 0, 0, None).size == pytest.approx(90.0)
