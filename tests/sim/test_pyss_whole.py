"""The pyss preset reproduces pyss's own runs of whole traces, every job's
start time, for conservative backfilling and EASY++ (data/pyss/README.md)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from corral.sim.run import replay

from .conftest import KTH, TRACES, need

DATA = Path(__file__).parent / "data" / "pyss"
SDSC = TRACES / "SDSC-SP2-1998-4.cqsim-derived.swf.gz"
RICC = TRACES / "RICC-2010-2.swf.gz"

# data file -> (trace, processors, corral policy, jobs, first records only)
CASES: dict[str, tuple[Path, int, str, int, int | None]] = {
    "kth-easypp": (KTH, 100, "easy++", 28_476, None),
    "sdsc-easypp": (SDSC, 128, "easy++", 67_620, None),
    "kth-cons": (KTH, 100, "conservative", 28_476, None),
    "sdsc-cons": (SDSC, 128, "conservative", 67_620, None),
    "ricc-cons-5k": (RICC, 8192, "conservative", 5_000, 5_000),
    "ricc-easypp-10k": (RICC, 8192, "easy++", 10_000, 10_000),
}


def pyss_waits(name: str) -> dict[int, float]:
    out: dict[int, float] = {}
    job_id = 0
    with gzip.open(DATA / f"{name}.waits.gz", "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            step, wait = line.split()
            job_id += int(step)
            out[job_id] = float(wait)
    return out


def mismatches(name: str) -> tuple[int, list[tuple[int, float, float]]]:
    trace, procs, policy, n_jobs, limit = CASES[name]
    if not (DATA / f"{name}.waits.gz").exists():
        pytest.skip(f"no pyss run {name}")
    ref = pyss_waits(name)
    res = replay(need(trace), policy, "pyss", procs=procs, limit_jobs=limit).result
    assert len(res.jobs) == len(ref) == n_jobs
    diff = [
        (j.job_id, j.t_submit + ref[j.job_id], res.t_start[k])
        for k, j in enumerate(res.jobs)
        if res.t_start[k] != j.t_submit + ref[j.job_id]
    ]
    return n_jobs, diff


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_every_start_time_matches_pyss(name: str) -> None:
    _, diff = mismatches(name)
    assert diff[:5] == [] and len(diff) == 0
