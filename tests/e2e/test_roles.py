"""Roles through the drop-in commands, as real Unix users over the controller's socket:
a plain user, an operator (by Unix group, `[roles] operator_groups`) and an
administrator (root) run scancel, scontrol hold/release/requeue/update, qdel, qhold
and qrls on their own jobs and on another user's. What the table allows is done, nothing else
is; each command is in `corral audit` with its real actor; and sacct names who
cancelled a job ("CANCELLED by <uid>"), not its owner.

The same matrix over every REST action, in-process: tests/api/test_authz_matrix.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.users import UnixUser, ensure_user, run_as, user_pythonpath

# drop-in command -> (what the job must be in first, the command's arguments, what the
# job is after it when it was done)
COMMANDS: dict[str, tuple[str, list[str], str]] = {
    "scancel": ("held", ["slurm.scancel"], "CANCELLED"),
    "qdel": ("held", ["sge.qdel"], "CANCELLED"),
    "scontrol hold": ("pending", ["slurm.scontrol", "hold"], "HELD"),
    "scontrol release": ("held", ["slurm.scontrol", "release"], "PENDING"),
    "scontrol requeue": ("ended", ["slurm.scontrol", "requeuehold"], "HELD"),
    "scontrol update": ("pending", ["slurm.scontrol", "update", "Name=renamed", "JobId="],
                        "PENDING"),
    "qhold": ("pending", ["sge.qhold"], "HELD"),
    "qrls": ("held", ["sge.qrls"], "PENDING"),
}
AUDIT_ACTION = {"scancel": "cancel", "qdel": "cancel", "scontrol hold": "hold",
                "scontrol release": "release", "scontrol requeue": "requeue",
                "scontrol update": "update", "qhold": "hold", "qrls": "release"}


@dataclass
class Site:
    cluster: Cluster
    users: dict[str, UnixUser | None]  # "a", "b", "op"; "admin": None (root)
    pythonpath: str

    def run(self, who: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return run_as(self.users[who], list(argv), self.cluster.env, self.pythonpath)

    def job(self, who: str, state: str) -> int:
        """A new job of `who`'s, in `state`: held, pending (not before an hour from
        now) or ended (cancelled by root)."""
        args = ["--begin", "now+1hour", *(["--hold"] if state == "held" else [])]
        proc = self.run(who, "-m", "corral.cli", "submit", "--parsable", "-J", "m", *args,
                        "--wrap", "sleep 600")
        assert proc.returncode == 0, proc.stderr
        job_id = int(proc.stdout.strip())
        if state == "ended":
            assert self.cluster.corral("cancel", str(job_id)).returncode == 0
        return job_id

    def show(self, job_id: int) -> dict[str, object]:
        out = json.loads(self.cluster.corral("show", str(job_id), "--json").stdout)
        assert isinstance(out, dict)
        return out


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="corral-roles-"))
    root.chmod(0o755)
    users: dict[str, UnixUser | None] = {
        "a": ensure_user("corraltesta", root), "b": ensure_user("corraltestb", root),
        "op": ensure_user("corraltesto", root), "admin": None}
    pythonpath = user_pythonpath(root)
    # the operator is one by their Unix group (useradd --user-group: their own)
    cluster = make_cluster(root, extra_config='[roles]\noperator_groups = ["corraltesto"]\n')
    try:
        yield Site(cluster, users, pythonpath)
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("role", ["user", "operator", "administrator"])
def test_drop_in_commands_do_what_each_role_may_and_audit_names_the_actor(
        site: Site, role: str) -> None:
    actor = {"user": "a", "operator": "op", "administrator": "admin"}[role]
    victim = "b" if role == "user" else "a"
    actor_user = site.users[actor]
    actor_name = actor_user.name if actor_user else "root"
    actor_uid = actor_user.uid if actor_user else 0
    done: dict[tuple[str, str], bool] = {}
    jobs: dict[tuple[str, str], int] = {}
    messages: dict[tuple[str, str], str] = {}
    for command, (state, argv, after) in COMMANDS.items():
        for whose in ("own", "other"):
            job_id = site.job(actor if whose == "own" else victim, state)
            before = site.show(job_id)
            last = argv[-1]
            args = [*argv[:-1], f"{last}{job_id}"] if last.endswith("=") else \
                [*argv, str(job_id)]
            proc = site.run(actor, "-m", f"corral.compat.{args[0]}", *args[1:])
            shown = site.show(job_id)
            jobs[(command, whose)] = job_id
            done[(command, whose)] = proc.returncode == 0
            messages[(command, whose)] = proc.stderr.strip()
            if proc.returncode == 0:
                assert shown["state"] == after, (command, whose, shown["state"])
                if command == "scontrol update":
                    assert shown["name"] == "renamed"
            else:  # refused: the job is as it was
                assert (shown["state"], shown["name"]) == (before["state"], before["name"])
    allowed_on_others = role != "user"
    assert done == {(c, w): w == "own" or allowed_on_others
                    for c in COMMANDS for w in ("own", "other")}, messages
    if role == "user":
        for command in COMMANDS:
            assert "needs operator" in messages[(command, "other")], messages

    # the audit trail names the actor of each, done or refused
    proc = site.cluster.corral("audit", "--json", "--user", actor_name)
    assert proc.returncode == 0, proc.stderr
    entries = json.loads(proc.stdout)["entries"]
    for (command, whose), job_id in jobs.items():
        hits = [e for e in entries if e["job_id"] == job_id
                and e["action"] == AUDIT_ACTION[command]]
        assert hits, (command, whose, job_id)
        e = hits[-1]
        assert (e["user"], e["uid"], e["role"], e["origin"]) == (
            actor_name, actor_uid, role, "unix socket"), e
        assert (e["result"] == "ok") == done[(command, whose)], e
    # as a table: one line per entry, the actor's and the result's words in it
    job_id = jobs[("scancel", "other")]
    proc = site.cluster.corral("audit", "--job", str(job_id), "--action", "cancel")
    header, *lines = proc.stdout.splitlines()
    assert header.split() == ["TIME", "USER", "ROLE", "FROM", "ACTION", "ON", "RESULT"]
    assert len(lines) == 1 and f" {actor_name} " in lines[0] and f"job {job_id}" in lines[0]
    assert lines[0].endswith("ok" if allowed_on_others else "needs operator"), lines
    # a plain user's `corral audit` shows their own entries only
    proc = site.run(actor, "-m", "corral.cli", "audit", "--json")
    assert proc.returncode == 0, proc.stderr
    uids = {e["uid"] for e in json.loads(proc.stdout)["entries"]}
    assert uids == {actor_uid} if role == "user" else len(uids) > 1

    # sacct: who cancelled the other user's job, not its owner
    if allowed_on_others:
        job_id = jobs[("scancel", "other")]
        proc = site.run("admin", "-m", "corral.compat.slurm.sacct", "-j", str(job_id),
                        "-n", "-X", "-o", "State%30")
        assert proc.stdout.split("\n")[0].strip() == f"CANCELLED by {actor_uid}", proc.stdout
