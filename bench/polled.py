"""Scheduling latency while clients poll full listings, against idle: the controller's
read path, apart from the clients' own start-up.

Starts a private corral (controller + one agent, SQLite), queues `--pending` held
jobs, then measures the median time from just before an API submit to the first
instruction of the job (it writes the time to a file) on the idle node: with no
other client, then while `--pollers` processes each pull `GET /v1/jobs` (the full
listing) over the controller's socket in a loop, then while as many loops run
`corral jobs` (the CLI listing, whose Python start-up loads the same 2 cores as
the controller). Prints each median, the polled / idle ratios and the listings
served per second.

    python bench/polled.py [--pending 5000] [--pollers 4] [--samples 15] [--rate-limit]

With --rate-limit the controller limits each user's requests ([rate_limit], Slurm's
rl_enable defaults) and the REST pollers run as a plain user: their listings then
wait their turn, and the scheduler's latency is measured beside them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
os.environ["PYTHONPATH"] = str(REPO / "src")

from bench.controller_cpu import Raw  # noqa: E402
from tests.e2e.cluster import temp_cluster  # noqa: E402

from corral.client import Client  # noqa: E402


def latency_s(client: Client, work: Path, samples: int) -> float:
    """Median from just before a submit to the job's first instruction."""
    out = []
    for i in range(samples):
        mark = work / f"lat{i}-{time.monotonic_ns()}"
        t0 = time.time()
        client.submit(name="lat", working_dir=str(work), stdout="/dev/null",
                      argv=["sh", "-c", f"date +%s.%N > {mark}"])
        deadline = time.monotonic() + 60
        while not (mark.exists() and mark.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError("a latency job did not start in 60 s")
            time.sleep(0.002)
        out.append(float(mark.read_text().split()[0]) - t0)
        time.sleep(0.2)
    return statistics.median(out)


def rest_poller(sock: str, stop: Any, count: Any, uid: int | None = None) -> None:
    if uid is not None:  # a plain user's poller (the socket's peer is read at connect)
        os.setgid(uid)
        os.setuid(uid)
    conn = Raw(sock)
    while not stop.is_set():
        conn.request("GET", "/v1/jobs")
        resp = conn.getresponse()
        body = resp.read()
        if resp.status == 429:  # over the user's rate: wait as told (as corral's clients)
            time.sleep(float(json.loads(body)["retry_after_s"]))
            continue
        if resp.status != 200:
            raise RuntimeError(f"GET /v1/jobs: {resp.status} {body[:200]!r}")
        with count.get_lock():
            count.value += 1


def cli_poller(env: dict[str, str], stop: Any, count: Any) -> None:
    while not stop.is_set():
        subprocess.run([sys.executable, "-m", "corral.cli", "jobs"], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        with count.get_lock():
            count.value += 1


def polled(target: Callable[..., None], arg: object, n: int,
           measure: Callable[[], float], *extra: object) -> tuple[float, float]:
    """(median latency, listings/s) while n processes run
    target(arg, stop, count, *extra)."""
    stop, count = mp.Event(), mp.Value("i", 0)
    procs = [mp.Process(target=target, args=(arg, stop, count, *extra)) for _ in range(n)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    c0, t0 = count.value, time.perf_counter()
    try:
        lat = measure()
    finally:
        rate = (count.value - c0) / (time.perf_counter() - t0)
        stop.set()
        for p in procs:
            p.join(timeout=60)
    return lat, rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pending", type=int, default=5000)
    ap.add_argument("--pollers", type=int, default=4)
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--rate-limit", action="store_true",
                    help="enable [rate_limit] with Slurm's rl_enable defaults (30 requests "
                         "at once, 2 a second), and poll over REST as a plain user "
                         "(uid 65534; root is not limited); no CLI pollers")
    a = ap.parse_args()
    limit = "[rate_limit]\nenabled = true\nbucket_size = 30\nrefill_per_s = 2\n" \
        if a.rate_limit else ""
    with temp_cluster("corral-polled-", cpus=4, extra_config=limit) as cluster:
        root = cluster.state.parent
        sock = str(cluster.state / "corral.sock")
        env = {**os.environ, "CORRAL_URL": f"unix://{sock}"}
        with Client(f"unix://{sock}", timeout_s=600) as c:
            req = {"working_dir": str(root), "argv": ["true"], "stdout": "/dev/null",
                   "hold": True}
            for k in range(0, a.pending, 1000):
                c.submit_batch([{"name": f"p{i}", **req}
                                for i in range(k, min(k + 1000, a.pending))])
            time.sleep(1)

            def measure() -> float:
                return latency_s(c, root, a.samples)
            idle = measure()
            rest, rest_rate = polled(rest_poller, sock, a.pollers, measure,
                                     65534 if a.rate_limit else None)
            if not a.rate_limit:
                cli, cli_rate = polled(cli_poller, env, a.pollers, measure)
        print(f"pending {a.pending} held jobs, {a.pollers} pollers, {a.samples} samples "
              f"(load average {os.getloadavg()[0]:.1f})"
              + (", [rate_limit] 30 at once, 2/s, pollers as uid 65534" if a.rate_limit
                 else ""))
        print(f"submit_to_start_idle {1000 * idle:.1f} ms")
        print(f"submit_to_start_rest_polled {1000 * rest:.1f} ms "
              f"({rest_rate:.0f} listings/s)")
        print(f"rest_polled_vs_idle {rest / idle:.2f} x")
        if not a.rate_limit:
            print(f"submit_to_start_cli_polled {1000 * cli:.1f} ms "
                  f"({cli_rate:.1f} listings/s)")
            print(f"cli_polled_vs_idle {cli / idle:.2f} x")


if __name__ == "__main__":
    main()
