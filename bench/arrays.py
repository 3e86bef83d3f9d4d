"""Big arrays: acceptance time, and how promptly the controller answers other clients.

Starts a private corral (controller + one agent + SQLite) in a temporary state
directory and prints:
  - seconds to accept an array of --tasks tasks (held), and tasks/s
  - p50/p99 latency of `show` (one task of the array, and the other client's job),
    of a listing, and of a submit from another client, while the array is pending
  - the same while the array is being scheduled (released; its tasks run `true`),
    with the tasks started per second meanwhile
  - the time for the whole-array cancel (one request) and until no task is active

    python bench/arrays.py [--tasks 100000] [--samples 200]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import FINAL, make_cluster

from corral.client import Client


def _pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p * len(s)))]


def _latency(label: str, n: int, call: Callable[[], object]) -> None:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        samples.append(time.perf_counter() - t0)
    print(f"  {label:<28} p50 {1000 * _pct(samples, 0.5):7.2f} ms   "
          f"p99 {1000 * _pct(samples, 0.99):7.2f} ms   ({n} calls)")


def _probe(c: Client, tmp: str, first: int, tasks: int, n: int) -> None:
    mine = c.submit(name="probe", working_dir=tmp, argv=["true"], stdout="/dev/null")
    _latency("show (an array task)", n, lambda: c.job(first + random.randrange(tasks)))
    _latency("show (own job)", n, lambda: c.job(mine))
    _latency("submit (one job)", n, lambda: c.submit(name="other", working_dir=tmp,
                                                     argv=["true"], stdout="/dev/null"))
    _latency("list (whole queue)", max(1, n // 10), c.jobs)


def _started(c: Client, first: int) -> int:
    """Tasks of the array out of its pending rest (started at least once)."""
    rest = [j for j in c.jobs(array=[str(first)]) if j.get("array_pending")]
    return (rest[0]["array_pending_count"] if rest else 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cb") as tmp:
        cluster = make_cluster(Path(tmp), cpus=os.cpu_count() or 2)
        sock = f"unix://{cluster.state / 'corral.sock'}"
        try:
            with Client(sock, timeout_s=600) as owner, Client(sock) as other:
                t0 = time.perf_counter()
                ids = owner.submit_many(name="big", working_dir=tmp, argv=["true"],
                                        stdout="/dev/null", array=f"0-{args.tasks - 1}",
                                        hold=True)
                accept_s = time.perf_counter() - t0
                first = ids[0]
                print(f"array_accept_s          {accept_s:.3f}  ({len(ids)} tasks, "
                      f"{len(ids) / accept_s:,.0f} tasks/s)")
                print("while the array is pending (held):")
                _probe(other, tmp, first, len(ids), args.samples)

                t0 = time.perf_counter()
                owner.release(first, whole_array=True)
                print(f"array_release_s         {time.perf_counter() - t0:.3f}  (one request)")
                left0 = args.tasks
                t_sched = time.perf_counter()
                print("while the array is being scheduled (its tasks run `true`):")
                _probe(other, tmp, first, len(ids), args.samples)
                left = _started(other, first)
                dt = time.perf_counter() - t_sched
                print(f"  tasks started           {left0 - left} in {dt:.1f} s "
                      f"({(left0 - left) / dt:.1f}/s)")

                t0 = time.perf_counter()
                answer = owner.cancel(first, whole_array=True)
                cancel_s = time.perf_counter() - t0
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    active = [j for j in other.jobs(array=[str(first)])
                              if j["state"] not in FINAL]
                    if not active:
                        break
                    time.sleep(0.05)
                print(f"array_cancel_s          {cancel_s:.3f}  (one request, "
                      f"{answer.get('tasks')} tasks); all ended after "
                      f"{time.perf_counter() - t0:.3f} s")
        finally:
            cluster.down()


if __name__ == "__main__":
    main()
