"""`corral sim --config`: the site's scheduler settings in a replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corral.sim.cli import sim
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
