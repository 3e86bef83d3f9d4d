"""Energy on hybrid CPUs in a replay (corral.sim.energy): placement, slowdown,
joules, and the energy-aware option's effect on the shipped sample."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from corral.sched import FCFS
from corral.sim.cli import sim
from corral.sim.energy import EnergySettingError, HybridCores, low_priority_rule
from corral.sim.engine import simulate
from corral.sim.jobs import SimJob
from corral.sim.settings import PRESETS

BASE = PRESETS["corral"].replace(efficiency_procs=2, p_watts=10.0, e_watts=2.0, e_speed=0.5,
                                 kill_at_limit=False)


def _run(aware: bool, jobs: list[SimJob]) -> tuple[list[float], HybridCores]:
    s = BASE.replace(energy_aware=aware, low_priority="queue:9")
    cores = HybridCores(s, 4)
    res = simulate(jobs, 4, FCFS(), s, cores=cores)
    return [e - b for b, e in zip(res.t_start, res.t_end, strict=True)], cores


def test_low_priority_work_takes_efficiency_cores_first_and_runs_slower() -> None:
    jobs = [SimJob(1, 0.0, 100.0, 1000.0, 2, "u", queue=9),  # low priority
            SimJob(2, 0.0, 100.0, 1000.0, 2, "v")]
    runs, cores = _run(False, jobs)  # performance first: job 2 gets the efficiency cores
    assert runs == [100.0, 200.0]
    assert cores.report.energy_kwh == pytest.approx((2 * 10 * 100 + 2 * 2 * 200) / 3.6e6)
    runs, cores = _run(True, jobs)  # the low-priority job is the one slowed
    assert runs == [200.0, 100.0] and cores.report.jobs_on_efficiency == 1
    assert cores.free_p == 2 and cores.free_e == 2 and not cores.held  # all given back
    assert cores.report.efficiency_share == pytest.approx(400 / 600)


def test_a_job_split_over_both_runs_at_the_slower_speed_and_is_killed_at_its_limit() -> None:
    s = BASE.replace(kill_at_limit=True)
    cores = HybridCores(s, 4)
    res = simulate([SimJob(1, 0.0, 100.0, 150.0, 3, "u")], 4, FCFS(), s, cores=cores)
    assert res.t_end[0] - res.t_start[0] == 150.0  # 200 s at half speed, killed at 150
    assert cores.report.killed_slowed == 1
    assert cores.report.energy_kwh == pytest.approx((2 * 10 + 1 * 2) * 150 / 3.6e6)


def test_bad_settings_are_named() -> None:
    for text in ("queue:x", "longer:-1", "some", "all:1"):
        with pytest.raises(EnergySettingError, match="setting low_priority"):
            low_priority_rule(text)
    assert low_priority_rule("longer:60")(SimJob(1, 0.0, 1.0, 60.0, 1, "u"))
    with pytest.raises(EnergySettingError, match="efficiency_procs: 5 is not 1-4"):
        HybridCores(BASE.replace(efficiency_procs=5), 4)
    r = CliRunner().invoke(sim, ["--sample", "--set", "efficiency_procs=10",
                                 "--set", "low_priority=queue"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "low_priority" in r.stderr


def test_energy_aware_saves_energy_on_the_sample_and_costs_wait() -> None:
    """The option's effect as docs/resources.md reports it: KTH SP2 sample (500
    jobs, 100 processors, 50 of them efficiency cores), EASY, jobs run to the end."""
    out = {}
    for aware in ("false", "true"):
        r = CliRunner().invoke(sim, [
            "--sample", "--policy", "easy", "--json", "--set", "efficiency_procs=50",
            "--set", "kill_at_limit=false", "--set", f"energy_aware={aware}",
            "--set", "low_priority=longer:3600"])
        assert r.exit_code == 0, r.output
        out[aware] = json.loads(r.output)
    base, aware = out["false"], out["true"]
    assert base["energy"]["energy_kwh"] == pytest.approx(56.884, abs=0.01)
    assert aware["energy"]["energy_kwh"] == pytest.approx(51.403, abs=0.01)
    assert aware["energy"]["efficiency_share"] > base["energy"]["efficiency_share"]
    assert aware["mean_wait_s"] > base["mean_wait_s"]  # the price: slower long jobs
    r = CliRunner().invoke(sim, ["--sample", "--policy", "easy"])
    assert "energy" not in r.output  # not modeled without efficiency_procs
