"""Licenses end to end: a pool of two, three jobs that each need one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Cluster, temp_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with temp_cluster("corral-lic-", cpus=4, extra_config="\n[licenses]\nmatlab = 2\n") as c:
        yield c


def test_the_third_job_waits_for_a_license(cluster: Cluster) -> None:
    ids = [int(cluster.corral("submit", "--parsable", "-L", "matlab", "--wrap",
                              "sleep 30").stdout) for _ in range(3)]
    deadline = time.monotonic() + 20
    with cluster.client() as c:
        while True:
            jobs = [c.job(i) for i in ids]
            states = [j["state"] for j in jobs]
            if states.count("RUNNING") == 2 and jobs[2]["reason"] == "Licenses":
                break
            assert time.monotonic() < deadline, jobs
            time.sleep(0.1)
        assert jobs[2]["state"] == "PENDING" and jobs[2]["spec"]["licenses"] == "matlab:1"
        explained = cluster.corral("explain", str(ids[2])).stdout
        assert "matlab: asks 1, 2 of 2 in use" in explained, explained
        assert c.status()["licenses"] == {"matlab": {"total": 2, "used": 2}}
        import subprocess
        import sys
        shown = subprocess.run([sys.executable, "-m", "corral.compat.slurm.scontrol", "show",
                                "lic"], env=cluster.env, capture_output=True, text=True,
                               timeout=60).stdout
        assert shown == ("LicenseName=matlab\n   Total=2 Used=2 Free=0 Reserved=0 "
                         "Remote=no\n\n"), shown
        c.cancel(ids[0])
        job = cluster.wait_state(ids[2], {"RUNNING"}, timeout_s=20)
        assert job["state"] == "RUNNING"
        for i in ids:
            c.cancel(i)


def test_impossible_requests_are_refused_at_submit(cluster: Cluster) -> None:
    p = cluster.corral("submit", "-L", "matlab:3", "--wrap", "true", check=False)
    assert p.returncode == 1
    assert p.stderr.strip().endswith("licenses: asks 3 matlab; the cluster has 2"), p.stderr
    p = cluster.corral("submit", "-L", "ansys", "--wrap", "true", check=False)
    assert p.returncode == 1 and "'ansys' is not a license of this cluster (have: matlab)" \
        in p.stderr, p.stderr


def test_sbatch_asks_licenses_with_dash_l(cluster: Cluster) -> None:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "corral.compat.slurm.sbatch", "--parsable",
                        "-L", "matlab:2", "-o", "/dev/null", "--wrap", "true"], env=cluster.env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    with cluster.client() as c:
        assert c.job(int(p.stdout))["spec"]["licenses"] == "matlab:2"
