"""The dashboard's plot numbers (web/series.py) against sums done by hand."""

from __future__ import annotations

import pytest

from corral.web.series import (
    PERIODS,
    TOP_ACCOUNTS,
    Record,
    Tally,
    averaged,
    bucket_edges,
    compute,
)


def test_averaged_is_the_time_average_of_overlapping_intervals() -> None:
    edges = [0.0, 10.0, 20.0, 30.0]
    # 2 CPUs over [5, 15), 1 CPU over [12, 40) (cut at 30), nothing before 0
    got = averaged([(5, 15, 2.0), (12, 40, 1.0), (-10, -1, 9.0)], edges)
    assert got == pytest.approx([(5 * 2) / 10, (5 * 2 + 8 * 1) / 10, 1.0])


def test_averaged_edges_and_empty() -> None:
    edges = [0.0, 1.0, 2.0]
    assert averaged([], edges) == [0.0, 0.0]
    assert averaged([(1.0, 2.0, 3.0)], edges) == pytest.approx([0.0, 3.0])
    assert averaged([(0.0, 2.0, 1.0), (0.0, 2.0, -1.0)], edges) == pytest.approx([0.0, 0.0])


def test_bucket_edges_per_period_and_a_bad_one() -> None:
    for name, (length_s, step_s) in PERIODS.items():
        edges = bucket_edges(1000.0, name)
        assert edges[-1] == 1000.0 and edges[0] == 1000.0 - length_s
        assert len(edges) - 1 == length_s // step_s
    with pytest.raises(ValueError, match="period: 'year' is not one of hour, day"):
        bucket_edges(0.0, "year")


def test_compute_utilization_queue_waits_and_accounts() -> None:
    now = 3600.0
    records = [
        # waited 120 s, ran 600 s on 2 CPUs, account a (uid 1)
        Record(1000.0, 1120.0, 1720.0, 2, "a", 1),
        # still running since 3000 on 4 CPUs, no account (uid 2)
        Record(2990.0, 3000.0, None, 4, None, 2),
        # still waiting (uid 2)
        Record(3500.0, None, None, 1, "b", 2),
        # ended before the period: counted nowhere
        Record(-5000.0, -4000.0, -3000.0, 8, "old", 3),
    ]
    s = compute(records, period="hour", now=now, cpus_total=8)
    assert len(s.utilization_pct) == 60
    total_cpu_s = sum(u / 100 * 8 * 60 for u in s.utilization_pct)
    assert total_cpu_s == pytest.approx(600 * 2 + 600 * 4, rel=1e-3)  # 4 digits sent
    waited_job_s = sum(q * 60 for q in s.queue_length)
    assert waited_job_s == pytest.approx(120 + 10 + 100, abs=0.1)  # rounded per bucket
    assert s.everyone.wait_counts[:2] == [1, 1]  # 10 s, 120 s
    assert dict(s.everyone.accounts()) == pytest.approx({"(none)": 600 * 4 / 3600,
                                                         "a": 1200 / 3600})
    assert dict(s.tally_for(1).accounts()) == pytest.approx({"a": 1200 / 3600})
    assert s.tally_for(99).accounts() == []


def test_accounts_beyond_the_top_are_summed() -> None:
    t = Tally()
    for i in range(TOP_ACCOUNTS + 3):
        t.add(Record(0.0, 0.0, 3600.0, i + 1, f"acct{i:02d}", 1), 0.0, 3600.0, 3600.0)
    shown = t.accounts()
    assert len(shown) == TOP_ACCOUNTS + 1
    assert shown[0] == ("acct12", 13.0)
    assert shown[-1] == ("(others)", pytest.approx(1 + 2 + 3))
