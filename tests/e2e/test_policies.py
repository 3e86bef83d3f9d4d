"""Site policy through the controller: QOS, reservations, maintenance, preemption."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster

CONFIG = """
[[partitions]]
name = "low"
preempt_mode = "requeue"
max_time_s = "1:00:00"

[[partitions]]
name = "high"
priority_tier = 1
max_time_s = "1:00:00"

[[qos]]
name = "urgent"
priority = 100
preempt = ["normal"]

[[qos]]
name = "normal"
priority = 0

[scheduler.weights]
age = 0
qos = 10000
"""


@pytest.fixture
def site() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="corral-pol-"))
    root.chmod(0o755)
    c = make_cluster(root, policy="easy")
    cfg = (c.state / "corral.toml").read_text()
    cfg = cfg.replace('[[partitions]]\nname = "main"', '[[partitions]]\nname = "main"', 1)
    head, _, tail = cfg.partition("[[nodes]]")
    head = head.replace("[scheduler]", "[scheduler]\nmax_interval_s = 0.5")
    (c.state / "corral.toml").write_text(head + CONFIG + "\n[[nodes]]" + tail)
    c.down()
    c.corral("up", "--node", "node1")
    try:
        yield c
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def sub(c: Cluster, *args: str) -> int:
    return int(c.corral("submit", "--parsable", "-o", "/dev/null", *args).stdout)


def test_qos_priority_orders_the_queue(site: Cluster) -> None:
    blocker = sub(site, "-c", "2", "-t", "1", "--wrap", "sleep 4")
    site.wait_state(blocker, {"RUNNING"})
    low = sub(site, "-c", "2", "-t", "1", "-q", "normal", "--wrap", "true")
    high = sub(site, "-c", "2", "-t", "1", "-q", "urgent", "--wrap", "true")
    a, b = site.wait(low), site.wait(high)
    assert a["state"] == b["state"] == "COMPLETED"
    assert b["t_start"] <= a["t_start"]
    assert b["priority"] > a["priority"]
    proc = site.corral("submit", "-q", "nosuch", "--wrap", "true", check=False)
    assert proc.returncode == 1 and "'nosuch'" in proc.stderr and "urgent" in proc.stderr


def test_reservation_sets_nodes_aside(site: Cluster) -> None:
    site.corral("reservation", "create", "r1", "--nodes", "node1", "--duration", "1:00:00",
                "--users", "nobody")
    assert "r1" in site.corral("reservation", "list").stdout
    outside = sub(site, "-t", "1", "--wrap", "true")
    time.sleep(1)
    assert site.show(outside)["state"] == "PENDING"
    proc = site.corral("submit", "--reservation", "r1", "--wrap", "true", check=False)
    assert proc.returncode == 1 and "does not admit user 'root'" in proc.stderr
    inside = int(site.corral("submit", "--parsable", "--user", "nobody", "--reservation", "r1",
                             "-t", "1",
                             "-D", "/tmp", "-o", "/dev/null", "--wrap", "true").stdout)
    assert site.wait(inside)["state"] == "COMPLETED"
    site.corral("reservation", "delete", "r1")
    assert site.wait(outside)["state"] == "COMPLETED"


def test_no_job_runs_into_a_maintenance_window(site: Cluster) -> None:
    site.corral("reservation", "create", "mw", "--nodes", "node1", "--start", "now+4",
                "--duration", "1:00:00", "--maintenance")
    long_job = sub(site, "-t", "1:00", "--wrap", "true")
    short_job = sub(site, "-t", "0:02", "--wrap", "true")
    assert site.wait(short_job)["state"] == "COMPLETED"
    time.sleep(1)
    assert site.show(long_job)["state"] == "PENDING"
    assert "maintenance" in site.corral("reservation", "list").stdout
    site.corral("cancel", str(long_job))


def test_a_higher_tier_job_preempts_by_requeue(site: Cluster) -> None:
    victim = sub(site, "-p", "low", "-c", "2", "-t", "10", "--wrap", "sleep 60")
    site.wait_state(victim, {"RUNNING"})
    boss = sub(site, "-p", "high", "-c", "2", "-t", "1", "--wrap", "sleep 1")
    done = site.wait(boss)
    assert done["state"] == "COMPLETED"
    job = site.show(victim)
    assert job["restarts"] >= 1 and job["state"] in ("PENDING", "RUNNING")
    with site.client() as c:
        whys = [e["data"].get("why") for e in c.events(victim) if e["kind"] == "requeue"]
    assert whys == ["preempted"]
    site.corral("cancel", str(victim))


@pytest.mark.parametrize("policy", ["easy++", "predictive"])
def test_predicting_policies_run_the_controller(policy: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-epp-"))
    root.chmod(0o755)
    c = make_cluster(root, policy=policy)
    try:
        ids = [sub(c, "-t", "1", "--wrap", "sleep 3") for _ in range(2)]
        assert [c.wait(i)["state"] for i in ids] == ["COMPLETED"] * 2
        # with two runtimes known, the next job of that user is planned with their mean
        blocker = sub(c, "-c", "2", "-t", "1", "--wrap", "sleep 2")
        c.wait_state(blocker, {"RUNNING"})
        nxt = sub(c, "-c", "2", "-t", "1", "--wrap", "true")
        with c.client() as cl:
            deadline = time.monotonic() + 5
            job = cl.job(nxt)
            while not job["t_expected_start"] and time.monotonic() < deadline:
                time.sleep(0.1)
                job = cl.job(nxt)
        start = c.show(blocker)["t_start"]
        assert job["t_expected_start"] - start < 10  # the ~3 s prediction, not the 60 s limit
        assert c.wait(nxt)["state"] == "COMPLETED"
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def test_limits_hold_jobs_back_or_refuse_them() -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-lim-"))
    root.chmod(0o755)
    c = make_cluster(root, cpus=4)
    cfg = (c.state / "corral.toml").read_text()
    head, _, tail = cfg.partition("[[nodes]]")
    extra = ('[limits]\nmax_jobs_per_user = 2\n\n[[qos]]\nname = "small"\n'
             'max_cpus_per_user = 1\n\n[[partitions]]\nname = "physics"\n'
             'allow_accounts = ["phys"]\n\n')
    (c.state / "corral.toml").write_text(head + extra + "[[nodes]]" + tail)
    c.down()
    c.corral("up", "--node", "node1")
    try:
        ids = [sub(c, "-t", "1", "--wrap", "sleep 3") for _ in range(4)]
        c.wait_state(ids[1], {"RUNNING"})
        with c.client() as cl:
            # a job just submitted shows reason None until a scheduling pass has
            # looked at it (published a moment after the pass)
            deadline = time.monotonic() + 2
            while True:
                jobs = [cl.job(i) for i in ids]
                if time.monotonic() > deadline or all(
                        j["reason"] != "None" for j in jobs if j["state"] == "PENDING"):
                    break
                time.sleep(0.05)
            explained = cl.explain(ids[-1])["explanation"]
        assert sum(j["state"] == "RUNNING" for j in jobs) == 2
        assert {j["reason"] for j in jobs if j["state"] == "PENDING"} == {"MaxJobsPerUser"}
        assert any("MaxJobsPerUser limit" in line for line in explained)
        done = [c.wait(i) for i in ids]
        assert all(j["state"] == "COMPLETED" for j in done)
        starts = sorted(j["t_start"] for j in done)
        ends = sorted(j["t_end"] for j in done)
        assert starts[2] >= ends[0]  # the third started only after one ended

        proc = c.corral("submit", "-q", "small", "-c", "2", "--wrap", "true", check=False)
        assert proc.returncode == 1
        assert "asks 2 CPUs; the QOSMaxCpuPerUserLimit limit is 1" in proc.stderr
        proc = c.corral("submit", "-p", "physics", "--wrap", "true", check=False)
        assert proc.returncode == 1 and "admits accounts phys" in proc.stderr
        ok = sub(c, "-p", "physics", "-A", "phys", "-t", "1", "--wrap", "true")
        assert c.wait(ok)["state"] == "COMPLETED"
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def test_a_qos_with_preemption_rights_requeues_a_running_job(site: Cluster) -> None:
    victim = sub(site, "-q", "normal", "-c", "2", "-t", "10", "--wrap", "sleep 60")
    site.wait_state(victim, {"RUNNING"})
    boss = sub(site, "-q", "urgent", "-c", "2", "-t", "1", "--wrap", "sleep 1")
    assert site.wait(boss)["state"] == "COMPLETED"
    job = site.show(victim)
    assert job["restarts"] == 1 and job["state"] in ("PENDING", "RUNNING")
    site.corral("cancel", str(victim))


def test_suspend_preemption_stops_and_resumes_in_place() -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-sus-"))
    root.chmod(0o755)
    c = make_cluster(root)
    cfg = (c.state / "corral.toml").read_text()
    head, _, tail = cfg.partition("[[nodes]]")
    extra = ('[[partitions]]\nname = "low"\npreempt_mode = "suspend"\n\n'
             '[[partitions]]\nname = "high"\npriority_tier = 1\n\n')
    (c.state / "corral.toml").write_text(head + extra + "[[nodes]]" + tail)
    c.down()
    c.corral("up", "--node", "node1")
    try:
        marks = root / "marks"
        victim = sub(c, "-p", "low", "-c", "2", "-t", "0:20", "--wrap",
                     f"for i in $(seq 30); do echo $i >> {marks}; sleep 0.1; done")
        c.wait_state(victim, {"RUNNING"})
        time.sleep(0.5)
        boss = sub(c, "-p", "high", "-c", "2", "-t", "1", "--wrap", "sleep 2")
        c.wait_state(victim, {"SUSPENDED"}, timeout_s=10)
        seen = marks.read_text().count("\n")
        time.sleep(1)
        assert marks.read_text().count("\n") == seen  # stopped: it writes nothing
        assert c.wait(boss)["state"] == "COMPLETED"
        job = c.wait(victim, timeout_s=30)
        assert job["state"] == "COMPLETED", job
        assert marks.read_text().split() == [str(i) for i in range(1, 31)]
        with c.client() as cl:
            moves = [e["to_state"] for e in cl.events(victim) if e["to_state"]]
        assert moves == ["PENDING", "RUNNING", "SUSPENDED", "RUNNING", "COMPLETED"]
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)
