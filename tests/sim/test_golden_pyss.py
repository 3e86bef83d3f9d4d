"""The pyss hand-built scenarios: every expected finish time, per policy
(file-to-policy map from golden/pyss-scenarios/README.md)."""

from __future__ import annotations

import pytest

from corral.sched import EASY, FCFS, Conservative, EasyPlusPlus, Policy
from corral.sim.engine import simulate
from corral.sim.jobs import jobs_from_scenario
from corral.sim.settings import PRESETS
from corral.sim.swf import read_pyss_scenario

from .conftest import GOLDEN, need


def _files(prefix: str, n: int) -> list[str]:
    return [f"{prefix}.{i}" for i in range(n)]


CASES: dict[str, list[str]] = {
    "fcfs": _files("basic_input", 29) + _files("extreme_input", 2) + _files("fcfs_input", 8),
    "conservative": _files("basic_input", 29)
    + _files("extreme_input", 2)
    + _files("bf_input", 9)
    + _files("cons_bf_input", 2),
    "easy": _files("basic_input", 29)
    + _files("extreme_input", 3)
    + _files("bf_input", 9)
    + _files("easy_bf_input", 4),
    "easy++": _files("basic_input", 15) + _files("plus_plus_easy", 16),
}
POLICY: dict[str, type[Policy]] = {
    "fcfs": FCFS,
    "easy": EASY,
    "conservative": Conservative,
    "easy++": EasyPlusPlus,
}


@pytest.mark.parametrize(("policy", "name"), [(p, f) for p, files in CASES.items() for f in files])
def test_expected_finish_times(policy: str, name: str) -> None:
    scen = list(read_pyss_scenario(need(GOLDEN / name)))
    assert scen, f"{name} has no jobs"
    res = simulate(jobs_from_scenario(scen), 100, POLICY[policy](), PRESETS["pyss"])
    got = [(j.job_id, res.t_end[k]) for k, j in enumerate(scen)]
    want = [(j.job_id, float(j.expected_finish)) for j in scen]
    assert got == want
