"""Reasons, priorities and expected start times reach the user."""

from __future__ import annotations

import json

from tests.e2e.cluster import Cluster


def test_explain_says_why_a_job_waits(cluster: Cluster) -> None:
    sub = lambda *a: int(cluster.corral("submit", "--parsable", *a).stdout)  # noqa: E731
    big = sub("-c", "2", "-t", "1:00", "--wrap", "sleep 30")
    cluster.wait_state(big, {"RUNNING"})
    nxt = sub("-c", "2", "-t", "1:00", "--wrap", "true")
    dep = sub("-d", f"afterok:{big}", "--wrap", "true")
    held = sub("-H", "--wrap", "true")
    with cluster.client() as c:
        job = cluster.wait_state(nxt, {"PENDING"})
        for _ in range(50):
            job = c.job(nxt)
            if job["reason"] == "Resources" and job["t_expected_start"]:
                break
            cluster.wait_state(nxt, {"RUNNING"}, timeout_s=0.1)
    assert job["reason"] == "Resources"
    assert abs(job["t_expected_start"] - (cluster.show(big)["t_start"] + 60)) < 2

    text = cluster.corral("explain", str(nxt)).stdout
    assert "next in line but needs 2 CPU(s)" in text and "Expected start:" in text
    text = cluster.corral("explain", str(dep)).stdout
    assert f"afterok: waits for job {big} (RUNNING) to complete successfully" in text
    text = cluster.corral("explain", str(held)).stdout
    assert "held by its owner" in text and f"corral release {held}" in text
    text = cluster.corral("explain", str(big)).stdout
    assert "is RUNNING on node1" in text
    answer = json.loads(cluster.corral("explain", str(nxt), "--json").stdout)
    assert answer["reason"] == "Resources" and answer["explanation"]
    table = cluster.corral("jobs", "-l").stdout
    assert "EXPECTED_START" in table and "(Resources)" in table and "(Dependency)" in table
    assert "ExpectedStart" in cluster.corral("show", str(nxt)).stdout
    cluster.corral("cancel", str(big), str(nxt), str(dep), str(held))


def test_drain_and_resume(cluster: Cluster) -> None:
    running = int(cluster.corral("submit", "--parsable", "--wrap", "sleep 2").stdout)
    cluster.wait_state(running, {"RUNNING"})
    out = cluster.corral("node", "drain", "node1", "-r", "disk check").stdout
    assert out.strip() == "node1: DRAINING"
    waiting = int(cluster.corral("submit", "--parsable", "--wrap", "true").stdout)
    assert cluster.wait(running)["state"] == "COMPLETED"  # running jobs finish
    nodes = json.loads(cluster.corral("nodes", "--json").stdout)["nodes"]
    assert nodes[0]["state"] == "DRAINED" and nodes[0]["drain_reason"] == "disk check"
    assert "disk check" in cluster.corral("nodes").stdout
    assert cluster.show(waiting)["state"] == "PENDING"
    cluster.corral("node", "resume", "node1")
    assert cluster.wait(waiting)["state"] == "COMPLETED"
    proc = cluster.corral("node", "drain", "nosuch", "-r", "x", check=False)
    assert proc.returncode == 1 and "'nosuch'" in proc.stderr
