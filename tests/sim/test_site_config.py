"""`corral sim --config`: the site's scheduler settings in a replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.config import SchedulerConfig
from corral.sched import EASY, LearnedPredictor, Predictive
from corral.sched.predict import RuntimePredictor
from corral.services.scheduling import make_policy as make_scheduler_policy
from corral.sim.cli import sim
from corral.sim.run import make_policy
from corral.sim.site import SiteConfigError, read_site

SITE = """
[scheduler]
policy = "predictive"
fairshare_half_life_s = "1-00:00:00"
[scheduler.weights]
age = 500
fairshare = 10000
qos = 5
[limits]
max_jobs_per_user = 4
[[nodes]]
name = "a"
cpus = 64
[[nodes]]
name = "b"
cpus = 36
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    p = tmp_path / "corral.toml"
    p.write_text(SITE)
    return p


def test_the_scheduler_section_becomes_settings(site: Path) -> None:
    s = read_site(site)
    assert s.policy == "predictive"
    assert s.procs == 100
    assert s.overrides == {
        "queue_order": "priority",
        "prio_age": "500.0",
        "prio_fairshare": "10000.0",
        "prio_max_age_s": str(7 * 86400),
        "fs_half_life_s": "86400",
    }
    assert s.not_replayed == ["weights.qos", "limits"]


def test_an_age_only_site_keeps_arrival_order(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[scheduler]\npolicy = "conservative"\n[[nodes]]\nname = "a"\n')
    s = read_site(p)
    assert (s.policy, s.overrides, s.procs, s.not_replayed) == ("conservative", {}, None, [])


def test_the_cli_replays_with_the_site_and_lets_options_win(site: Path) -> None:
    r = CliRunner().invoke(sim, ["--sample", "--limit", "200", "--config", str(site), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["policy"] == "predictive" and d["procs"] == 100
    assert "not replayed: weights.qos, limits" in d["site_config"]
    args = ["--sample", "--limit", "200", "--config", str(site), "--json"]
    r = CliRunner().invoke(sim, [*args, "--policy", "easy", "--procs", "120"])
    d = json.loads(r.output)
    assert d["policy"] == "easy" and d["procs"] == 120
    # fair-share ordering is on: turning it off changes the schedule
    off = CliRunner().invoke(sim, [*args, "--policy", "easy", "--set", "queue_order=arrival"])
    on = CliRunner().invoke(sim, [*args, "--policy", "easy"])
    assert json.loads(off.output)["mean_wait_s"] != json.loads(on.output)["mean_wait_s"]


def test_bad_site_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match="no such file"):
        read_site(tmp_path / "absent.toml")
    p = tmp_path / "bad.toml"
    p.write_text('[scheduler]\npolicy = "sjf"\n')
    r = CliRunner().invoke(sim, ["--sample", "--config", str(p)])
    assert r.exit_code == 2
    assert r.output.startswith("error: config ") and "scheduler.policy" in r.output
    assert len(r.output.strip().splitlines()) == 1
    p.write_text("[scheduler\n")
    r = CliRunner().invoke(sim, ["--sample", "--config", str(p)])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1


GUARD = """
[scheduler]
policy = "predictive"
starve_waits = 0
starve_s = "0:10:00"
starve_min_s = 60
starve_warmup = 20
"""


def test_the_starvation_guard_is_read_and_replayed(tmp_path: Path) -> None:
    p = tmp_path / "guard.toml"
    p.write_text(GUARD)
    s = read_site(p)
    assert s.guard == {
        "predictor": "learned",
        "starve_waits": 0.0,
        "starve_min_s": 60.0,
        "starve_s": 600.0,
        "starve_warmup": 20,
        "starve_book_max": 1,
        "starving_at_limits": False,
        "starving_at_limits_share": 0.0,
        "limits_while_starving": "crossing",
    }
    pol = make_policy("predictive", s.guard)
    assert isinstance(pol, Predictive)
    assert (pol.starve_waits, pol.starve_s, pol.starve_min_s, pol.starve_warmup) == (
        0.0, 600.0, 60.0, 20)
    assert isinstance(pol.predictor, LearnedPredictor)
    recent = make_policy("predictive", {**s.guard, "predictor": "recent"})
    assert isinstance(recent, Predictive) and type(recent.predictor) is RuntimePredictor
    assert type(make_policy("easy", s.guard)) is EASY  # other policies ignore it
    # the controller builds the same policy from the same section
    cfg = SchedulerConfig(policy="predictive", starve_waits=0, starve_s="0:10:00")
    built = make_scheduler_policy(cfg, preemption=False)
    assert isinstance(built, Predictive) and built.starve_s == 600.0
    # a 10-minute fixed guard changes the sample's schedule against the default
    args = ["--sample", "--limit", "500", "--json"]
    default = CliRunner().invoke(sim, [*args, "--policy", "predictive"])
    guarded = CliRunner().invoke(sim, [*args, "--config", str(p)])
    assert guarded.exit_code == 0, guarded.output
    d, g = json.loads(default.output), json.loads(guarded.output)
    assert g["policy"] == "predictive"
    assert (g["mean_wait_s"], g["max_wait_s"]) != (d["mean_wait_s"], d["max_wait_s"])
    assert "starve" not in g["site_config"]  # replayed, so not listed as left out


@pytest.mark.parametrize(
    ("line", "field", "limit"),
    [
        ("starve_waits = -1", "scheduler.starve_waits", "greater than or equal to 0"),
        ("starve_waits = 5000", "scheduler.starve_waits", "less than or equal to 1000"),
        ("starve_min_s = -5", "scheduler.starve_min_s", "greater than or equal to 0"),
        ("starve_s = 0", "scheduler.starve_s", "greater than or equal to 1"),
        ("starve_warmup = 2.5", "scheduler.starve_warmup", "valid integer"),
        ('starve_s = "two days"', "scheduler.starve_s", "is not a duration"),
    ],
)
def test_bad_guard_settings_are_one_line_errors(
    tmp_path: Path, line: str, field: str, limit: str
) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(f'[scheduler]\npolicy = "predictive"\n{line}\n')
    r = CliRunner().invoke(sim, ["--sample", "--config", str(p)])
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1
    assert r.output.startswith("error: config ")
    assert field in r.output and limit in r.output
    value = line.split(" = ")[1].strip('"')
    assert value in r.output
