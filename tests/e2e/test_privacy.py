"""Two real Unix users and an administrator over the controller's socket: who may read
a job's script and environment, and who may do what, through every command.

The authorization matrix is asserted cell by cell and printed (pytest -s).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster
from tests.e2e.users import UnixUser, ensure_user, run_as, user_pythonpath

# Raw REST over the Unix socket, with the standard library only (not the SDK).
REST_GET = """
import http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(sys.argv[1])
c = C("localhost")
c.request("GET", sys.argv[2])
r = c.getresponse()
print(r.read().decode())
sys.exit(0 if r.status == 200 else 1)
"""

READ_FILE = """
import sys
try:
    print(open(sys.argv[1], "rb").read()[:100])
except PermissionError:
    sys.exit(1)
"""


@dataclass
class Site:
    cluster: Cluster
    users: dict[str, UnixUser | None]  # "A", "B", "admin" (None: this process, root)
    pythonpath: str

    def run(self, who: str, *argv: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return run_as(self.users[who], list(argv), {**self.cluster.env, **(env or {})},
                      self.pythonpath)

    def corral(self, who: str, *args: str, env: dict[str, str] | None = None
               ) -> subprocess.CompletedProcess[str]:
        return self.run(who, "-m", "corral.cli", *args, env=env)

    def tool(self, who: str, module: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(who, "-m", f"corral.compat.{module}", *args)

    def submit_secret(self, who: str, tag: str) -> int:
        user = self.users[who]
        assert user is not None
        script = user.home / "job.sh"
        script.write_text(f"#!/bin/sh\n# script line {tag}-SCRIPT\nsleep 600\n")
        proc = self.corral(who, "submit", "--parsable", "--hold", "-J", f"job-{tag}",
                           str(script), env={"MY_TOKEN": f"{tag}-ENV"})
        assert proc.returncode == 0, proc.stderr
        return int(proc.stdout.strip())


def _site(controller_config: str = "") -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="corral-priv-"))
    root.chmod(0o755)
    users: dict[str, UnixUser | None] = {"A": ensure_user("corraltesta", root),
                                         "B": ensure_user("corraltestb", root), "admin": None}
    pythonpath = user_pythonpath(root)
    cluster = make_cluster(root, controller_config=controller_config)
    try:
        yield Site(cluster, users, pythonpath)
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def site() -> Iterator[Site]:
    yield from _site()


@pytest.fixture
def private_site() -> Iterator[Site]:
    yield from _site('private_data = ["jobs"]')


def _reads(site: Site, who: str, job_id: int, secrets: tuple[str, ...]) -> dict[str, str]:
    """What `who` gets of job_id through each read route: "full" (its secrets),
    "public" (the job, without them) or "none" (refused / not found)."""
    sock = str(site.cluster.state / "corral.sock")
    outs = {
        "corral show": site.corral(who, "show", str(job_id), "--json"),
        "corral show (text)": site.corral(who, "show", str(job_id)),
        "corral events": site.corral(who, "events", str(job_id), "--json"),
        "corral explain": site.corral(who, "explain", str(job_id)),
        "REST GET job": site.run(who, "-c", REST_GET, sock, f"/v1/jobs/{job_id}"),
        "REST GET events": site.run(who, "-c", REST_GET, sock, f"/v1/jobs/{job_id}/events"),
        "REST GET list": site.run(who, "-c", REST_GET, sock, "/v1/jobs?history=true"),
        "scontrol show job": site.tool(who, "slurm.scontrol", "show", "job", str(job_id)),
        "scontrol --json": site.tool(who, "slurm.scontrol", "--json", "show", "job",
                                     str(job_id)),
        "sacct": site.tool(who, "slurm.sacct", "-j", str(job_id), "-n", "-X", "-o",
                           "JobID,User"),
        "qstat -j": site.tool(who, "sge.qstat", "-j", str(job_id)),
        "scontrol write batch_script": site.tool(who, "slurm.scontrol", "write",
                                                 "batch_script", str(job_id), "-"),
    }
    out = {}
    for route, proc in outs.items():
        text = proc.stdout + proc.stderr
        if route == "REST GET list" and proc.returncode == 0:  # just this job's entry
            text = proc.stdout = json.dumps(
                [j for j in json.loads(proc.stdout)["jobs"] if j["id"] == job_id])
        if any(s in text for s in secrets):
            out[route] = "full"
        elif proc.returncode == 0 and (str(job_id) in proc.stdout
                                       or route == "scontrol write batch_script"):
            out[route] = "public"
        else:
            out[route] = "none"
    return out


# What each route can show at best: some never carry a script or an environment.
SHOWS_SECRETS = {"corral show": True, "corral show (text)": False, "corral events": True,
                 "corral explain": False, "REST GET job": True, "REST GET events": True,
                 "REST GET list": True, "scontrol show job": False, "scontrol --json": True,
                 "sacct": False, "qstat -j": False, "scontrol write batch_script": True}
# What another user gets of a job through a route, when not "public".
OTHERS_GET = {"scontrol write batch_script": "none"}


def _print(title: str, matrix: dict[str, dict[str, str]]) -> None:
    cols = list(next(iter(matrix.values())))
    print(f"\n{title}")
    print(f"{'':<12}" + "".join(f"{c:<20}" for c in cols))
    for who, row in matrix.items():
        print(f"{who:<12}" + "".join(f"{row[c]:<20}" for c in cols))


def test_neither_user_reads_the_others_script_or_environment(site: Site) -> None:
    job_a = site.submit_secret("A", "ALPHA")
    job_b = site.submit_secret("B", "BRAVO")
    secrets = {job_a: ("ALPHA-SCRIPT", "ALPHA-ENV"), job_b: ("BRAVO-SCRIPT", "BRAVO-ENV")}
    matrix: dict[str, dict[str, str]] = {}
    for who in ("A", "B", "admin"):
        for job_id, owner in ((job_a, "A"), (job_b, "B")):
            got = _reads(site, who, job_id, secrets[job_id])
            matrix[f"{who} on {owner}"] = got
            for route, seen in got.items():
                may = who in (owner, "admin")
                best = "full" if SHOWS_SECRETS[route] else "public"
                assert seen == (best if may else OTHERS_GET.get(route, "public")), (
                    who, owner, route, seen)
    _print("reads: user x job owner", matrix)
    # the store, read directly: the controller's alone
    db = site.cluster.state / "corral.db"
    assert os.stat(db).st_mode & 0o077 == 0
    for who in ("A", "B"):
        assert site.run(who, "-c", READ_FILE, str(db)).returncode == 1


def test_authorization_matrix(site: Site) -> None:
    jobs = {who: site.submit_secret(who, f"M{who}") for who in ("A", "B")}
    jobs["admin-spare"] = site.submit_secret("A", "SPARE")  # for the admin to cancel
    other = {"A": jobs["B"], "B": jobs["A"], "admin": jobs["admin-spare"]}
    own = {"A": jobs["A"], "B": jobs["B"], "admin": jobs["A"]}  # admin: someone else's
    matrix: dict[str, dict[str, str]] = {}
    messages: dict[tuple[str, str], str] = {}
    for who in ("A", "B", "admin"):
        r = who.lower()
        ops = {
            "update own priority": site.corral(who, "update", str(own[who]), "--priority", "5"),
            "scontrol Priority=": site.tool(who, "slurm.scontrol", "update",
                                            f"JobId={own[who]}", "Priority=6"),
            "scontrol Nice=-5": site.tool(who, "slurm.scontrol", "update",
                                          f"JobId={own[who]}", "Nice=-5"),
            "update other's job": site.corral(who, "update", str(other[who]), "-J", "x"),
            "cancel other's job": site.corral(who, "cancel", str(other[who])),
            "node drain": site.corral(who, "node", "drain", "node1", "-r", f"by {who}"),
            "node resume": site.corral(who, "node", "resume", "node1"),
            "reservation create": site.corral(who, "reservation", "create", f"res{r}",
                                              "--nodes", "node1", "--start", "now+1hour",
                                              "--duration", "10"),
            "sbatch --priority": site.tool(who, "slurm.sbatch", "--hold", "--priority=9",
                                           "--wrap", "true"),
            "sbatch --nice=-5": site.tool(who, "slurm.sbatch", "--hold", "--nice=-5",
                                          "--wrap", "true"),
            "qsub -p 10": site.tool(who, "sge.qsub", "-h", "-p", "10", "-b", "y", "true"),
        }
        matrix[who] = {}
        for op, proc in ops.items():
            matrix[who][op] = "allowed" if proc.returncode == 0 else "refused"
            messages[(who, op)] = proc.stderr.strip()
    _print("actions: user x action", matrix)
    for who in ("A", "B"):
        assert set(matrix[who].values()) == {"refused"}, matrix[who]
        for op in matrix[who]:
            assert len(messages[(who, op)]) > 0, (who, op)
    assert set(matrix["admin"].values()) == {"allowed"}, (matrix["admin"], messages)
    # each refusal is a clear line naming the field (qsub adds its "Exiting.")
    assert "priority: set a fixed priority (got 5): needs operator" \
        in messages[("A", "update own priority")]
    assert "priority: set a fixed priority (got 6): needs operator" \
        in messages[("A", "scontrol Priority=")]
    assert "nice: set a negative nice (got -5" \
        in messages[("B", "scontrol Nice=-5")]
    assert "priority: set a fixed priority (got 9): needs operator" \
        in messages[("A", "sbatch --priority")]
    assert "nice: set a negative nice (got -5" \
        in messages[("A", "sbatch --nice=-5")]
    assert "nice: set a negative nice (got -10" \
        in messages[("A", "qsub -p 10")]
    assert f"cancel job {jobs['B']} of corraltestb: needs operator" \
        in messages[("A", "cancel other's job")]
    assert "drain node node1: needs operator" \
        in messages[("B", "node drain")]
    assert "create reservation resb: needs administrator" \
        in messages[("B", "reservation create")]
    # and nothing a plain user was refused happened
    job_a = json.loads(site.cluster.corral("show", str(jobs["A"]), "--json").stdout)
    assert job_a["name"] == "job-MA" and job_a["state"] == "HELD"
    assert json.loads(site.cluster.corral("show", str(jobs["B"]), "--json").stdout)[
        "state"] == "HELD"


def test_private_data_jobs_hides_other_users_jobs(private_site: Site) -> None:
    site = private_site
    job_a = site.submit_secret("A", "PA")
    site.submit_secret("B", "PB")
    secrets = ("PA-SCRIPT", "PA-ENV")
    seen = {who: _reads(site, who, job_a, secrets) for who in ("A", "B", "admin")}
    _print("private_data = jobs: reads of A's job", seen)
    for route, got in seen["B"].items():
        assert got == "none", (route, got)
    for who in ("A", "admin"):
        for route, got in seen[who].items():
            assert got == ("full" if SHOWS_SECRETS[route] else "public"), (who, route)
    listings = {
        "corral jobs": ["-m", "corral.cli", "jobs", "--json"],
        "corral jobs --history": ["-m", "corral.cli", "jobs", "--history", "--json"],
        "squeue": ["-m", "corral.compat.slurm.squeue", "-h", "-o", "%i %j"],
        "sacct": ["-m", "corral.compat.slurm.sacct", "-a", "-n", "-X", "-o",
                  "JobID,JobName"],
        "qstat": ["-m", "corral.compat.sge.qstat", "-u", "*"],
    }
    for name, argv in listings.items():
        for who, visible in (("B", {"job-PB"}), ("A", {"job-PA"}),
                             ("admin", {"job-PA", "job-PB"})):
            proc = site.run(who, *argv)
            assert proc.returncode == 0, (name, who, proc.stderr)
            found = {j for j in ("job-PA", "job-PB") if j in proc.stdout}
            assert found == visible, (name, who, proc.stdout)
    proc = site.tool("B", "slurm.scontrol", "show", "job", str(job_a))
    assert proc.returncode == 1
    assert proc.stderr.strip() == "slurm_load_jobs error: Invalid job id specified"
    proc = site.corral("B", "cancel", str(job_a))
    assert proc.returncode == 1 and f"job {job_a}: no such job" in proc.stderr


def test_scontrol_write_batch_script_gives_the_owner_their_script(site: Site) -> None:
    job_a = site.submit_secret("A", "WRITE")
    user = site.users["A"]
    assert user is not None
    proc = site.tool("A", "slurm.scontrol", "write", "batch_script", str(job_a))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"batch script for job {job_a} written to slurm-{job_a}.sh"
    assert "WRITE-SCRIPT" in (user.home / f"slurm-{job_a}.sh").read_text()
    proc = site.tool("B", "slurm.scontrol", "write", "batch_script", str(job_a), "-")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == (f"job {job_a}: only its owner (corraltesta) and "
                                   "administrators may read its batch script")
