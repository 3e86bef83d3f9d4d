"""The controller's memory per pending job, at a size where the fixed costs fade.

Starts a private corral (controller + one agent, SQLite), submits `--jobs` held
jobs in batches of 1,000 (as `Client.submit_batch` sends them) and prints the
controller's RSS growth per job: from the empty queue (`ctl_rss_per_pending_job`,
as bench/compare.py measures it with 5,000) and after the first batch
(`ctl_rss_marginal_per_pending_job`: what one more pending job costs, without the
first request's buffers). With `--environment` each job carries this process's
environment, as `corral submit` sends the submitter's; with `--listing`, again
after one full listing (`..._after_listing`: the read model's cached renderings).

    python bench/memory.py [--jobs 50000] [--environment] [--listing]
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

from tests.e2e.cluster import temp_cluster  # noqa: E402

from corral.client import Client  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
BATCH = 1000


def rss_b(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=50_000)
    ap.add_argument("--environment", action="store_true",
                    help="each job carries this process's environment")
    ap.add_argument("--listing", action="store_true",
                    help="then list the whole queue once and measure again")
    a = ap.parse_args()
    with temp_cluster("corral-mem-", cpus=4) as cluster:
        root = cluster.state.parent
        pid = cluster.pid("controller")
        time.sleep(1)
        env = dict(os.environ) if a.environment else {}
        req = {"working_dir": str(root), "argv": ["true"], "stdout": "/dev/null",
               "hold": True, "environment": env}
        rss0 = rss_b(pid)
        rss1 = rss0
        with Client(f"unix://{cluster.state / 'corral.sock'}", timeout_s=600) as c:
            t0 = time.perf_counter()
            for k in range(0, a.jobs, BATCH):
                out = c.submit_batch([{"name": f"m{i}", **req}
                                      for i in range(k, min(k + BATCH, a.jobs))])
                assert all(x.ok for x in out), [x.message for x in out if not x.ok][:1]
                if k == 0:
                    rss1 = rss_b(pid)
            submit_s = time.perf_counter() - t0
            time.sleep(1)
            rss2 = rss_b(pid)
            n = a.jobs
            print(f"pending {n} jobs (environment of {len(env)} variables, "
                  f"{sum(len(k) + len(v) for k, v in env.items())} B)")
            print(f"api_submit_bulk {n / submit_s:.0f} jobs/s (load average "
                  f"{os.getloadavg()[0]:.1f})")
            print(f"ctl_rss_per_pending_job {(rss2 - rss0) / n:.0f} B/job")
            print(f"ctl_rss_marginal_per_pending_job {(rss2 - rss1) / max(n - BATCH, 1):.0f} "
                  "B/job")
            if not a.listing:
                return
            c.jobs()
            time.sleep(0.5)
            print(f"ctl_rss_per_pending_job_after_listing {(rss_b(pid) - rss0) / n:.0f} B/job")


if __name__ == "__main__":
    main()
