"""The pilot factory's arithmetic, its batch commands' answers read back, and the
script a pilot runs (corral.pilot; docs/pilots.md). The real Slurm and Grid Engine:
tests/e2e/test_pilots.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.config import SiteConfig, load_config
from corral.model.errors import InvalidRequest
from corral.model.pilots import verify_token
from corral.pilot.batch import BatchError, GridEngine, Request, Slurm
from corral.pilot.factory import SiteFactory, pilot_script, read_site_key
from corral.pilot.plan import Plan, plan


def test_plan_sizes_pilots_by_what_waits() -> None:
    assert plan(0, 2, 5, {}, set()) == Plan(0, ())
    assert plan(5, 2, 5, {}, set()) == Plan(3, ())  # 5 CPUs of 2-CPU pilots
    assert plan(5, 2, 5, {"1": "pending"}, set()) == Plan(2, ())  # one is coming
    assert plan(5, 2, 5, {"1": "running"}, {"1"}) == Plan(3, ())  # registered: full
    assert plan(50, 1, 5, {"1": "running", "2": "pending"}, {"1"}) == Plan(3, ())  # max 5
    # nothing waits: the pilots still queued are withdrawn, the running ones leave alone
    assert plan(0, 1, 5, {"1": "running", "2": "pending", "3": "running"}, {"1"}) == \
        Plan(0, ("2",))


def fake(bin_dir: Path, name: str, output: str, code: int = 0) -> None:
    log = bin_dir / f"{name}.args"
    script = bin_dir / name
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\ncat <<'OUT'\n{output}\nOUT\n"
                      f"exit {code}\n")
    script.chmod(0o755)


def request(tmp_path: Path) -> Request:
    return Request("corral-pilot-a", tmp_path / "p.sh", tmp_path / "p.log", 90, 2, 500,
                   ("--partition=x",))


def test_slurm_commands(tmp_path: Path) -> None:
    fake(tmp_path, "sbatch", "42;cluster")
    fake(tmp_path, "squeue", "42 RUNNING\n43 PENDING\n44 COMPLETING")
    fake(tmp_path, "scancel", "")
    s = Slurm(str(tmp_path))
    assert s.submit(request(tmp_path)) == "42"
    args = (tmp_path / "sbatch.args").read_text()
    assert "--time=2 " in args and "--cpus-per-task=2" in args and "--mem=500" in args
    assert args.strip().endswith("--partition=x " + str(tmp_path / "p.sh"))
    assert s.states() == {"42": "running", "43": "pending", "44": "running"}
    fake(tmp_path, "sbatch", "sbatch: error: invalid partition", code=1)
    with pytest.raises(BatchError, match="sbatch exited 1: sbatch: error: invalid partition"):
        s.submit(request(tmp_path))


def test_grid_engine_commands(tmp_path: Path) -> None:
    fake(tmp_path, "qsub", "17")
    fake(tmp_path, "qstat", "job-ID  prior   name  user  state submit/start at  queue  slots\n"
                            "-----\n"
                            "     17 0.555 corral-pil root r 11/30/2026 03:12:10 batch@vm 1\n"
                            "     18 0.000 corral-pil root qw 11/30/2026 03:12:10  1\n"
                            "     19 0.000 corral-pil root hqw 11/30/2026 03:12:10  1")
    g = GridEngine(str(tmp_path))
    assert g.submit(request(tmp_path)) == "17"
    assert "-l h_rt=90" in (tmp_path / "qsub.args").read_text()
    assert g.states() == {"17": "running", "18": "pending", "19": "pending"}


def site(tmp_path: Path, mode: int = 0o600, key: bytes = b"k" * 40) -> SiteConfig:
    f = tmp_path / "site.key"
    f.write_bytes(key)
    f.chmod(mode)
    return SiteConfig(name="a", batch="slurm", key_file=str(f), bin_dir=str(tmp_path),
                      controller_url="http://ctl:6817", pilot_wall_time_s=600,
                      idle_timeout_s=60, agent_command=["/opt/corral/bin/corral-agent"])


def test_the_site_key_must_be_private_and_long(tmp_path: Path) -> None:
    assert read_site_key(site(tmp_path)) == b"k" * 40
    with pytest.raises(Exception, match="may be read by other users"):
        read_site_key(site(tmp_path, mode=0o644))
    with pytest.raises(Exception, match="holds 5 bytes, fewer than 32"):
        read_site_key(site(tmp_path, key=b"short"))


def test_a_pilot_script_runs_the_agent_with_a_token_of_its_own(tmp_path: Path) -> None:
    text = pilot_script(site(tmp_path), "a-1234", "TOKEN")
    assert "CORRAL_PILOT_TOKEN=TOKEN" in text
    assert ("exec /opt/corral/bin/corral-agent --pilot --site a --node a-1234 --controller "
            "http://ctl:6817 --wall-time-s 600") in text


def test_a_pass_submits_for_the_demand_and_forgets_ended_pilots(tmp_path: Path) -> None:
    cfg = site(tmp_path)
    fake(tmp_path, "sbatch", "7")
    fake(tmp_path, "squeue", "")
    work = tmp_path / "work"
    work.mkdir()
    f = SiteFactory(cfg, Slurm(str(tmp_path)), read_site_key(cfg), work)
    f.step({"queued_cpus": 1, "nodes": []})
    assert list(f.pilots) == ["7"]
    node = str(f.pilots["7"]["node"])
    script = (work / f"{node}.sh").read_text()
    assert os.stat(work / f"{node}.sh").st_mode & 0o077 == 0
    token = script.split("CORRAL_PILOT_TOKEN=", 1)[1].split("\n", 1)[0]
    claim = verify_token(b"k" * 40, token, 0)
    assert (claim.site, claim.node) == ("a", node)
    fake(tmp_path, "squeue", "")  # it has ended
    f.step({"queued_cpus": 0, "nodes": []})
    assert f.pilots == {}


def test_a_command_prefix_runs_every_batch_command_through_it(tmp_path: Path) -> None:
    # as `ssh submit-host` or `ip netns exec site-a` would: the prefix gets the command
    fake(tmp_path, "via", "42;cluster")
    s = Slurm("", prefix=[str(tmp_path / "via"), "--to", "site-a"])
    assert s.submit(request(tmp_path)) == "42"
    args = (tmp_path / "via.args").read_text()
    assert args.startswith("--to site-a sbatch --parsable "), args
    fake(tmp_path, "via", "no route to site-a", code=255)
    with pytest.raises(BatchError, match=r"^squeue exited 255: no route to site-a$"):
        s.states()


def test_a_bad_command_prefix_is_refused_in_one_line(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "corral.toml"
    cfg.write_text('[[sites]]\nname = "a"\nbatch = "slurm"\nkey_file = "/k"\n'
                   'controller_url = "http://ctl:6817"\ncommand_prefix = ["ssh", ""]\n')
    monkeypatch.setenv("CORRAL_CONFIG", str(cfg))
    with pytest.raises(InvalidRequest) as e:
        load_config(str(tmp_path))
    msg = str(e.value)
    assert "\n" not in msg and "sites.0.command_prefix" in msg and "word 1" in msg, msg
