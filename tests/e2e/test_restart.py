"""kill -9 of the controller loses nothing acknowledged; running jobs finish."""

from __future__ import annotations

import time

from tests.e2e.cluster import FINAL, Cluster


def test_controller_kill9_and_restart(cluster: Cluster) -> None:
    gate = cluster.state / "gate"  # the running jobs end once it exists (at most 60 s)
    wait_gate = f"for k in $(seq 1200); do [ -e {gate} ] && break; sleep 0.05; done"
    with cluster.client() as c:
        running = [c.submit(name=f"long{i}", working_dir=str(cluster.state),
                            script=f"#!/bin/sh\n{wait_gate}\nexit {i}\n",
                            stdout="/dev/null")
                   for i in range(2)]
        for job_id in running:
            cluster.wait_state(job_id, {"RUNNING"}, timeout_s=10)
        queued = [c.submit(name=f"q{i}", working_dir=str(cluster.state), argv=["true"],
                           stdout="/dev/null") for i in range(100)]
        assert sum(j["state"] == "PENDING" for j in c.jobs()) == 100
    cluster.kill9_controller()
    gate.touch()
    time.sleep(1)  # the running jobs end while the controller is away
    cluster.start_controller()
    with cluster.client() as c:
        ids = {j["id"] for j in c.jobs(history=True, limit=10_000)}
        assert set(running) | set(queued) <= ids
        for i, job_id in enumerate(running):
            job = c.wait(job_id, timeout_s=30)
            assert job["state"] == ("COMPLETED" if i == 0 else "FAILED"), job
            assert job["exit_code"] == i
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [c.job(j)["state"] for j in queued]
            if all(s in FINAL for s in states):
                break
            time.sleep(0.25)
        assert all(s == "COMPLETED" for s in states), states
