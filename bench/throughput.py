"""Submission throughput, submit->start latency and CLI start-up time.

Starts a private corral (controller + one agent + SQLite) in a temporary state
directory and prints:
  - CLI start-up time (`corral --help`) next to bare `python -c pass`
  - submissions/s through the CLI (one process per submit)
  - submissions/s through the API (one client, one connection; then N concurrent
    clients, whose submits share commits)
  - submit -> start latency of a trivial job on an idle node (median, p90)

    python bench/throughput.py [--cli-jobs 50] [--api-jobs 1000] [--latency-jobs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import FINAL, make_cluster

from corral.client import Client


def timed_runs(argv: list[str], n: int, env: dict[str, str]) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli-jobs", type=int, default=50)
    ap.add_argument("--api-jobs", type=int, default=1000)
    ap.add_argument("--latency-jobs", type=int, default=20)
    ap.add_argument("--clients", type=int, default=8)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cb") as tmp:
        cluster = make_cluster(Path(tmp), cpus=os.cpu_count() or 2)
        env = cluster.env
        try:
            py = timed_runs([sys.executable, "-c", "pass"], 10, env)
            cli = timed_runs([sys.executable, "-m", "corral.cli", "--help"], 10, env)
            print(f"startup_python_s        {py:.4f}")
            print(f"startup_cli_help_s      {cli:.4f}  ({cli / py:.2f}x bare python)")

            # Latency first, on an idle node.
            lat = []
            with Client(f"unix://{cluster.state / 'corral.sock'}") as c:
                for i in range(args.latency_jobs):
                    t0 = time.time()
                    job_id = c.submit(name=f"lat{i}", working_dir=tmp, argv=["true"],
                                      stdout="/dev/null")
                    job = c.wait(job_id, timeout_s=30)
                    lat.append(job["t_start"] - t0)
            lat.sort()
            print(f"submit_to_start_ms      median {1000 * statistics.median(lat):.1f}, "
                  f"p90 {1000 * lat[int(0.9 * (len(lat) - 1))]:.1f}")

            t0 = time.perf_counter()
            for _ in range(args.cli_jobs):
                subprocess.run([sys.executable, "-m", "corral.cli", "submit", "--hold",
                                "--wrap", "true", "-o", "/dev/null"], env=env, cwd=tmp,
                               capture_output=True, check=True)
            dt = time.perf_counter() - t0
            print(f"cli_submits_per_s       {args.cli_jobs / dt:.1f}  ({args.cli_jobs} jobs)")

            with Client(f"unix://{cluster.state / 'corral.sock'}") as c:
                t0 = time.perf_counter()
                for i in range(args.api_jobs):
                    c.submit(name=f"api{i}", working_dir=tmp, argv=["true"], hold=True,
                             stdout="/dev/null")
                dt = time.perf_counter() - t0
                print(f"api_submits_per_s       {args.api_jobs / dt:.1f}  "
                      f"({args.api_jobs} jobs, one client)")
                conc = args.api_jobs
                per = conc // args.clients

                def one_client(k: int) -> None:
                    with Client(f"unix://{cluster.state / 'corral.sock'}") as mine:
                        for i in range(per):
                            mine.submit(name=f"c{k}_{i}", working_dir=tmp, argv=["true"],
                                        hold=True, stdout="/dev/null")

                t0 = time.perf_counter()
                with ThreadPoolExecutor(args.clients) as pool:
                    list(pool.map(one_client, range(args.clients)))
                dt = time.perf_counter() - t0
                print(f"api_submits_per_s_conc  {per * args.clients / dt:.1f}  "
                      f"({per * args.clients} jobs, {args.clients} concurrent clients, "
                      "group commit)")
                held = [j for j in c.jobs() if j["state"] not in FINAL]
                print(f"queue_after             {len(held)} held jobs")
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
