"""Per-site limits on a real controller with two agents of two sites: a user at
site a's limit has their next job placed at site b, and a job only a's nodes fit
waits naming a's limit (in `corral explain`) until their job there ends."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster

AGENTS = {"sa": ("a", 4), "sb": ("b", 4)}  # node -> (site, cpus)


@pytest.fixture
def two_sites() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="corral-sitelim-"))
    root.chmod(0o755)
    c = make_cluster(root, cpus=1, extra_config="""
[limits.sites.a]
max_jobs_per_user = 1
""")
    try:
        c.corral("node", "drain", "node1", "-r", "no site")  # only the sites' nodes
        for name, (site, cpus) in AGENTS.items():
            c.start_agent(name, cpus=cpus, args=("--mem-mb", "2000", "--site", site))
        c.wait_idle(*AGENTS)
        yield c
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def _reason(c: Cluster, job_id: int, want: str, timeout_s: float = 15) -> str:
    deadline = time.monotonic() + timeout_s
    reason = ""
    while time.monotonic() < deadline:
        reason = c.show(job_id).get("reason") or ""
        if reason == want:
            break
        time.sleep(0.1)
    return reason


def test_site_limit_sends_jobs_elsewhere_then_holds_them(two_sites: Cluster) -> None:
    c = two_sites
    sub = lambda *a: int(c.corral("submit", "--parsable", *a).stdout)  # noqa: E731
    jobs = [sub("--prefer-site", "a", "-c", "1", "-t", "5:00", "--wrap", "sleep 60")
            for _ in range(3)]
    placed = [c.wait_state(j, {"RUNNING"})["node_list"] for j in jobs]
    # all three prefer a, whose node has room for them: its limit sends two to b
    assert sorted(n[0] for n in placed) == ["sa", "sb", "sb"], placed
    on_a = jobs[placed.index(["sa"])]

    there = sub("--site", "a", "-c", "1", "-t", "5:00", "--wrap", "true")  # a CPU is free
    assert _reason(c, there, "SiteMaxJobsPerUser:a") == "SiteMaxJobsPerUser:a"
    assert c.show(there)["state"] == "PENDING"
    text = c.corral("explain", str(there)).stdout
    assert "site 'a'" in text and "max_jobs_per_user = 1" in text, text
    assert "runs 1 jobs there" in text, text
    table = c.corral("jobs", "-l").stdout
    assert "(SiteMaxJobsPerUser:a)" in table, table

    c.corral("cancel", str(on_a))
    assert c.wait(there)["state"] == "COMPLETED"
    assert c.show(there)["node_list"] == ["sa"]
    answer = json.loads(c.corral("explain", str(there), "--json").stdout)
    assert answer["reason"] != "SiteMaxJobsPerUser:a"
    c.corral("cancel", *map(str, jobs), check=False)
