"""pyss-compatible mode reproduces pyss's own KTH-SP2 runs, job by job."""

from __future__ import annotations

import gzip

import pytest

from corral.sim.run import replay

from .conftest import KTH, KTH_REF, need

AGGREGATES = {  # SEMANTICS.md, all valid jobs
    "fcfs": (354_176, 6_821.94),
    "easy": (6_900, 92.74),
}


def _pyss_starts(policy: str) -> dict[int, float]:
    out = {}
    with gzip.open(need(KTH_REF / f"pyss-{policy}.jobs.gz"), "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            f = line.split()
            out[int(f[0])] = float(f[2])
    return out


@pytest.mark.parametrize("policy", ["easy", "fcfs"])
def test_every_start_time_matches_pyss(policy: str) -> None:
    rep = replay(need(KTH), policy, "pyss")
    ref = _pyss_starts(policy)
    res = rep.result
    assert len(res.jobs) == len(ref) == 28_476
    diff = [
        (j.job_id, ref[j.job_id], res.t_start[k])
        for k, j in enumerate(res.jobs)
        if res.t_start[k] != ref[j.job_id]
    ]
    assert diff == []
    wait, bsld = AGGREGATES[policy]
    m = rep.metrics
    assert m.jobs == 28_467
    assert round(m.mean_wait_s) == wait
    assert round(m.mean_bounded_slowdown, 2) == bsld
    assert m.utilization == pytest.approx(0.699, abs=0.0005)
