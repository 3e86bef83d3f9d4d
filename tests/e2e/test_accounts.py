"""Associations end to end, with Slurm's commands, a real controller and agent and a
real second user: an administrator makes an account tree and gives a user an
account; the user's submission with another account is refused in one line, the
default account applies, and after a workload `sshare -a` shows the tree with the
usage decayed."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.users import UnixUser, ensure_user, run_as, user_pythonpath

HALF_LIFE_S = 4


@dataclass
class Site:
    cluster: Cluster
    alice: UnixUser
    pythonpath: str

    def admin(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_as(None, ["-m", f"corral.compat.slurm.{module}", *args],
                      self.cluster.env, self.pythonpath)

    def as_alice(self, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run_as(self.alice, ["-m", f"corral.compat.slurm.{module}", *args],
                      self.cluster.env, self.pythonpath)


@pytest.fixture
def site() -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="corral-acct-"))
    root.chmod(0o755)
    alice = ensure_user("corraltesta", root)
    pythonpath = user_pythonpath(root)
    cluster = make_cluster(root, scheduler_config=f"fairshare_half_life_s = {HALF_LIFE_S}\n"
                           "weights = { fairshare = 1000.0 }")
    try:
        yield Site(cluster, alice, pythonpath)
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, (proc.args, proc.stdout, proc.stderr)
    return proc.stdout


def test_accounts_users_refusal_and_sshare(site: Site) -> None:
    name = site.alice.name
    _ok(site.admin("sacctmgr", "-i", "add", "account", "physics", "parent=root",
                   "fairshare=40"))
    _ok(site.admin("sacctmgr", "-i", "add", "account", "chem", "parent=root", "fairshare=60"))
    _ok(site.admin("sacctmgr", "-i", "add", "user", name, "account=physics"))
    assert _ok(site.admin("sacctmgr", "-nP", "show", "account", "format=account,parentname")
               ) == "root|\nchem|root\nphysics|root\n"
    # what tools ask: the user's accounts and default account
    assert _ok(site.as_alice("sacctmgr", "-n", "-P", "-s", "list", "user", name,
                             "format=account,defaultaccount")) == "physics|physics\n"
    # a plain user changes nothing
    p = site.as_alice("sacctmgr", "add", "account", "mine")
    assert p.returncode == 1
    assert p.stderr == "sacctmgr: error: add account mine: needs administrator\n"

    # an account the user lacks is refused, in one line
    p = site.as_alice("sbatch", "-A", "chem", "--wrap", "true")
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [
        f"sbatch: error: Batch job submission failed: account: user {name!r} may not use "
        "account 'chem' (may use: physics)"], p.stderr

    # a workload under the default account
    ids = []
    for _ in range(3):
        out = _ok(site.as_alice("sbatch", "--parsable", "-c", "2", "-o", "/dev/null",
                                "--wrap", "sleep 1"))
        ids.append(int(out.strip()))
    charged_s = 0.0
    for job_id in ids:
        job = site.cluster.wait(job_id, timeout_s=60)
        assert job["state"] == "COMPLETED" and job["spec"]["account"] == "physics", job
        charged_s += (job["t_end"] - job["t_start"]) * 2
    t_last_end = max(site.cluster.wait(j)["t_end"] for j in ids)
    time.sleep(HALF_LIFE_S)  # the usage halves, at least

    table = _ok(site.admin("sshare", "-a"))
    lines = table.splitlines()
    assert lines[0].split() == ["Account", "User", "RawShares", "NormShares", "RawUsage",
                                "EffectvUsage", "FairShare"]
    assert [ln.split()[:2] for ln in lines[2:]] == [
        ["root", "1.000000"], ["chem", "60"], ["physics", "40"],
        ["physics", name if len(name) <= 10 else name[:9] + "+"]], table  # as Slurm cuts
    rows = {tuple(r.split("|")[:2]): r.split("|")
            for r in _ok(site.admin("sshare", "-a", "-P")).splitlines()[1:]}
    alice = rows[(" " * 2 + "physics", name)]
    physics = rows[(" physics", "")]
    raw = float(alice[4])
    age_s = time.time() - t_last_end
    assert 0 < raw <= charged_s * 0.5 + 0.5, (raw, charged_s)  # decayed by half or more
    oldest_s = age_s + 10  # the earliest job's end, at most
    assert raw >= charged_s * 0.5 ** (oldest_s / HALF_LIFE_S) - 0.5, (raw, charged_s)
    assert physics[4] == alice[4] and physics[5] == "1.000000"  # all of the usage
    assert rows[(" chem", "")][4] == "0" and rows[(" chem", "")][6] == "1.000000"
    assert float(physics[3]) == 0.4 and float(alice[3]) == 0.4
    assert 0 < float(alice[6]) < 0.5  # above its share: 2^(-1/0.4)
    # corral's own command shows the same tree
    listing = site.cluster.corral("account", "list").stdout
    assert "physics" in listing and name in listing and "chem" in listing, listing
    shares = json.loads(site.cluster.corral("account", "shares", "--json").stdout)["shares"]
    assert [(r["account"], r["user"]) for r in shares] == [
        ("root", ""), ("chem", ""), ("physics", ""), ("physics", name)]
    # a plain user sees the accounts and only their own rows
    mine = _ok(site.as_alice("sshare", "-P", "-n")).splitlines()
    assert [r.split("|")[1] for r in mine if r.split("|")[1]] == [name]
