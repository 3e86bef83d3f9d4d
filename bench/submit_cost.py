"""The controller's CPU per submitted job by the bulk API, as the cluster grows and
with the submitter's environment.

For each node count of `--nodes`, and each way, a private corral (controller + one agent, SQLite)
gets that many more nodes registered (as their agents would: POST
/agent/v1/register), then `--batches` batches of 1,000 held jobs are submitted with
`Client.submit_batch`, without and with this process's environment in each job (as
`corral submit` sends the submitter's). Prints the controller's CPU time (user +
system, /proc/<pid>/stat) per job and the jobs accepted per second.

    python bench/submit_cost.py [--nodes 0,1000,5000] [--batches 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
os.environ["PYTHONPATH"] = str(REPO / "src")

from bench.controller_cpu import Raw, cpu_s  # noqa: E402
from tests.e2e.cluster import temp_cluster  # noqa: E402

from corral.client import Client  # noqa: E402

BATCH = 1000


def measure(n_nodes: int, with_env: bool, batches: int) -> tuple[float, float]:
    """-> (ms of controller CPU a job, jobs/s), in a cluster of its own (the nodes
    registered here send no heartbeats: the measurement ends well before they would
    be declared lost)."""
    with temp_cluster("corral-submit-", cpus=4) as cluster:
        root = cluster.state.parent
        pid = cluster.pid("controller")
        sock = str(cluster.state / "corral.sock")
        raw = Raw(sock)
        for i in range(n_nodes):
            raw.call("POST", "/agent/v1/register", {"node": f"b{i}", "cpus": 64,
                                                    "mem_mb": 256_000, "boot_id": f"b{i}"})
        raw.close()
        with Client(f"unix://{sock}", timeout_s=600) as c:
            req = {"working_dir": str(root), "argv": ["true"], "stdout": "/dev/null",
                   "hold": True, "environment": dict(os.environ) if with_env else {}}
            c.submit_batch([{"name": f"w{i}", **req} for i in range(BATCH)])  # warm
            time.sleep(1.0)
            c0, t0 = cpu_s(pid), time.perf_counter()
            for k in range(batches):
                c.submit_batch([{"name": f"j{k}-{i}", **req} for i in range(BATCH)])
            wall_s = time.perf_counter() - t0
            n = batches * BATCH
            return 1000 * (cpu_s(pid) - c0) / n, n / wall_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", default="0,1000,5000")
    ap.add_argument("--batches", type=int, default=10)
    a = ap.parse_args()
    env_b = sum(len(k) + len(v) for k, v in os.environ.items())
    print("| nodes registered | environment | controller CPU (ms/job) | jobs/s |")
    print("|---|---|---|---|")
    for n in (int(x) for x in a.nodes.split(",")):
        for with_env in (False, True):
            cpu_ms, rate = measure(n, with_env, a.batches)
            env = f"{len(os.environ)} variables, {env_b} B" if with_env else "none"
            print(f"| {n} | {env} | {cpu_ms:.3f} | {rate:.0f} |", flush=True)
    print(f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
