"""Reports and sacct over a history of a million finished jobs, and the scheduling
latency while they run (docs/accounting.md).

Builds (once; `--db` keeps it) a SQLite store holding `--jobs` finished jobs from
the RICC trace (../shared/traces; repeated after itself past its 447,794 jobs),
stored through the controller's end-of-job record path, then starts a private
corral on it (controller + one agent) and prints:

- how long each report takes through the REST API and the drop-in commands
  (`sreport`, `corral report --csv`, `sacct` over an hour and over a day);
- the scheduling latency (submit to start, from the controller's own times) of
  trivial jobs submitted one after another, first alone, then while a loop of
  reports over the whole history runs beside them.

    python bench/reports.py [--jobs 1000000] [--db /tmp/corral-reports-1m.db]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
os.environ["PYTHONPATH"] = str(REPO / "src")

from sqlalchemy import func, select  # noqa: E402
from tests.e2e.cluster import Cluster, make_cluster  # noqa: E402
from tests.history import RICC, load_history, trace_jobs  # noqa: E402

from corral.store.db import make_engine, migrate  # noqa: E402
from corral.store.schema import usage_records  # noqa: E402

RICC_JOBS = 447_794


def build(db: Path, n: int) -> tuple[float, float]:
    """The store with n finished jobs; -> the history's first and last times."""
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(usage_records)).scalar_one()
        span = conn.execute(select(func.min(usage_records.c.t_submit),
                                   func.max(usage_records.c.t_end))).one()
    if have < n:
        if have:
            sys.exit(f"{db}: has {have} records, fewer than {n}; remove it first")
        t = time.perf_counter()
        load_history(engine, trace_jobs(RICC, n, copies=-(-n // RICC_JOBS)))
        print(f"build_store {time.perf_counter() - t:.1f} s for {n} jobs", flush=True)
        with engine.connect() as conn:
            span = conn.execute(select(func.min(usage_records.c.t_submit),
                                       func.max(usage_records.c.t_end))).one()
    engine.dispose()
    print(f"# store {db}: {db.stat().st_size / 2**20:.0f} MiB", flush=True)
    return float(span[0]), float(span[1])


def timed(what: str, f: object, *args: object) -> float:
    t = time.perf_counter()
    f(*args)  # type: ignore[operator]
    dt = time.perf_counter() - t
    print(f"{what}: {dt:.2f} s", flush=True)
    return dt


def run(cluster: Cluster, bin_dir: Path, *argv: str) -> None:
    env = {**cluster.env, "PATH": f"{bin_dir}:{cluster.env.get('PATH', '/usr/bin:/bin')}"}
    proc = subprocess.run(list(argv), env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{argv}: exit {proc.returncode}: {proc.stderr}")


def latencies(cluster: Cluster, n: int, workdir: Path) -> list[float]:
    """Submit n trivial jobs one after another; each one's start - submit."""
    out = []
    with cluster.client() as c:
        for i in range(n):
            job_id = c.submit(name=f"lat{i}", working_dir=str(workdir), argv=["true"],
                              stdout="/dev/null")
            job = c.wait(job_id, timeout_s=60)
            if job.get("t_start") is not None:
                out.append(float(job["t_start"]) - float(job["t_submit"]))
    return out


def summary(xs: list[float]) -> str:
    if not xs:
        return "none started"
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    return (f"median {1000 * statistics.median(xs):.0f} ms, p95 {1000 * p95:.0f} ms, "
            f"max {1000 * xs[-1]:.0f} ms ({len(xs)} jobs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/corral-reports-1m.db"))
    ap.add_argument("--latency-jobs", type=int, default=20)
    a = ap.parse_args()
    t0, t1 = build(a.db, a.jobs)
    root = Path(tempfile.mkdtemp(prefix="corral-rep-", dir="/tmp"))
    root.chmod(0o755)
    t = time.perf_counter()
    cluster = make_cluster(root, cpus=2,
                           controller_config=f'database = "sqlite:///{a.db}"')
    print(f"corral up on the store (controller and agent): {time.perf_counter() - t:.2f} s",
          flush=True)
    try:
        bin_dir = root / "bin"
        cluster.corral("compat", "install", str(bin_dir))
        whole = {"start": t0, "end": t1}
        mid = t0 + (t1 - t0) / 2
        day = {"start": mid, "end": mid + 86400}

        def loc(t: float) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))
        with cluster.client() as c:
            timed("api utilization, whole history, by day",
                  lambda: c.report("utilization", bucket="day", **whole))
            timed("api user top 10, whole history", lambda: c.report("users", top=10, **whole))
            timed("api accounts, whole history", lambda: c.report("accounts", **whole))
            timed("api job sizes, whole history", lambda: c.report("jobs", by="size", **whole))
            timed("api utilization, one day, by hour",
                  lambda: c.report("utilization", bucket="hour", **day))
        period = [f"start={loc(t0)}", f"end={loc(t1)}"]
        timed("sreport cluster utilization (whole history)", run, cluster, bin_dir,
              "sreport", "-P", "cluster", "utilization", *period)
        timed("sreport user top (whole history)", run, cluster, bin_dir,
              "sreport", "-P", "user", "top", *period)
        timed("sreport cluster AccountUtilizationByUser (whole history)", run, cluster,
              bin_dir, "sreport", "-P", "cluster", "AccountUtilizationByUser", *period)
        timed("corral report user top --csv (whole history)", run, cluster, bin_dir,
              sys.executable, "-m", "corral.cli", "report", "user", "top", "--csv",
              "--top", "1000", "--start", str(t0), "--end", str(t1))
        timed("sacct -a -X over an hour", run, cluster, bin_dir, "sacct", "-a", "-X",
              "-S", loc(mid), "-E", loc(mid + 3600))
        timed("sacct -a -X over a day", run, cluster, bin_dir, "sacct", "-a", "-X",
              "-S", loc(mid), "-E", loc(mid + 86400))
        timed("sacct -u (one user) -X over a day", run, cluster, bin_dir, "sacct", "-X",
              "-u", "u1", "-S", loc(mid), "-E", loc(mid + 86400))

        quiet = latencies(cluster, a.latency_jobs, root)
        print(f"scheduling latency, alone: {summary(quiet)}", flush=True)
        stop = threading.Event()
        done = [0]

        def hammer() -> None:
            with cluster.client() as c:
                while not stop.is_set():
                    c.report("utilization", bucket="day", **whole)
                    c.report("users", top=10, **whole)
                    c.report("accounts", **whole)
                    done[0] += 3
        threads = [threading.Thread(target=hammer) for _ in range(2)]
        for t in threads:
            t.start()
        try:
            busy = latencies(cluster, a.latency_jobs, root)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
        print(f"scheduling latency, while reports ran ({done[0]} whole-history reports): "
              f"{summary(busy)}", flush=True)
        print(f"# load average {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
