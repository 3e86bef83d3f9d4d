"""What the web dashboard costs the controller (docs/dashboard.md).

1. A private corral (controller + one agent, SQLite) with `--jobs` held jobs: the
   time of a queue page's refresh poll over the Unix socket, answered whole (200) and
   when nothing changed (304, If-None-Match), and the controller's CPU time per 304
   poll (from /proc, over `--polls` polls).
2. The plots' numbers for a month over `--records` finished jobs, as the dashboard
   makes them (its utilization and usage per account come from the accounting
   reports' rollups, not timed here): the store read (store/job_periods.py, SQLite,
   without the CPUs) and the computation (web/series.py), each timed.

    python bench/dashboard.py [--jobs 10000] [--polls 200] [--records 200000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
os.environ["PYTHONPATH"] = str(REPO / "src")

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from tests.e2e.cluster import make_cluster  # noqa: E402

from corral.client import Client  # noqa: E402
from corral.store import job_periods  # noqa: E402
from corral.store.db import make_engine, migrate, reading  # noqa: E402
from corral.store.schema import jobs  # noqa: E402
from corral.web.series import Record, compute  # noqa: E402

BATCH = 1000
TICK_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S  # utime + stime


def polls(jobs_n: int, polls_n: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-dash-", dir="/tmp"))
    root.chmod(0o755)
    cluster = make_cluster(root, cpus=4)
    try:
        sock = str(cluster.state / "corral.sock")
        req = {"working_dir": str(root), "argv": ["true"], "stdout": "/dev/null",
               "hold": True}
        with Client(f"unix://{sock}", timeout_s=600) as c:
            for k in range(0, jobs_n, BATCH):
                out = c.submit_batch([{"name": f"d{i}", **req}
                                      for i in range(k, min(k + BATCH, jobs_n))])
                assert all(x.ok for x in out)
        time.sleep(1)
        pid = cluster.pid("controller")
        with httpx.Client(transport=httpx.HTTPTransport(uds=sock), base_url="http://corral",
                          timeout=60) as http:
            url = "/ui/fragments/queue"
            whole = []
            for _ in range(5):
                t0 = time.perf_counter()
                r = http.get(url)
                whole.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
            etag = r.headers["etag"]
            same = []
            c0 = cpu_s(pid)
            for _ in range(polls_n):
                t0 = time.perf_counter()
                r = http.get(url, headers={"If-None-Match": etag})
                same.append(time.perf_counter() - t0)
                assert r.status_code == 304, r.status_code
            c1 = cpu_s(pid)
        print(f"queue of {jobs_n} jobs: whole part (first {500} rows) "
              f"{statistics.median(whole) * 1000:.1f} ms median; unchanged (304) "
              f"{statistics.median(same) * 1000:.2f} ms median, controller CPU "
              f"{(c1 - c0) / polls_n * 1000:.2f} ms per 304 poll ({polls_n} polls)")
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)


def plots(records_n: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-dash-store-", dir="/tmp"))
    try:
        engine = make_engine(f"sqlite:///{root / 'bench.db'}")
        migrate(engine)
        now = time.time()
        rng = random.Random(1)
        rows = []
        for i in range(records_n):
            t_submit = now - rng.uniform(0, 30 * 86400)
            t_start = t_submit + rng.expovariate(1 / 600)
            t_end = t_start + rng.expovariate(1 / 3600)
            cpus = rng.choice((1, 1, 2, 4, 8, 16))
            rows.append({"id": i + 1, "user": f"u{i % 50}", "uid": 10000 + i % 50,
                         "gid": 100, "state": "COMPLETED", "partition": "main",
                         "name": "b", "account": f"a{i % 12}", "time_limit_s": 86400,
                         "t_submit": t_submit, "t_start": t_start, "t_end": t_end,
                         "spec": f'{{"nodes": 1, "cpus_per_node": {cpus}}}'})
        with engine.begin() as conn:
            for k in range(0, len(rows), 10_000):
                conn.execute(insert(jobs), rows[k:k + 10_000])
        t0 = time.perf_counter()
        with reading(engine) as conn:
            got, more = job_periods.overlapping(conn, now - 30 * 86400, now, 200_000,
                                                cpus=False)
        t1 = time.perf_counter()
        series = compute([Record(*r) for r in got], period="month", now=now, cpus_total=512,
                         truncated=more, utilization=False)
        t2 = time.perf_counter()
        print(f"plots for a month over {records_n} finished jobs: store read "
              f"{(t1 - t0) * 1000:.0f} ms ({len(got)} rows), computation "
              f"{(t2 - t1) * 1000:.0f} ms ({len(series.utilization_pct)} buckets)")
        engine.dispose()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--polls", type=int, default=200)
    ap.add_argument("--records", type=int, default=200_000)
    a = ap.parse_args()
    polls(a.jobs, a.polls)
    plots(a.records)


if __name__ == "__main__":
    main()
