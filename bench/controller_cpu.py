"""The controller's cost per request: CPU per submit, per full listing and per
one-job query, REST calls/s, and submit -> start latency, idle and while clients
poll full listings.

Starts a private corral (controller + one agent + SQLite) in a temporary state
directory, fills its queue with `--pending` jobs that wait for their begin time
(pending, not held), and reads the controller's CPU time (user + system) from
/proc/<pid>/stat around each phase.

    python bench/controller_cpu.py [--pending 5000] [--listings 200] [--queries 3000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.cluster import make_cluster

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """The process's user + system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


class Raw(http.client.HTTPConnection):
    """A keep-alive connection over the controller's socket; bodies are read, not parsed
    (the figure is the controller's, not the client's JSON decoder's)."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)

    def call(self, method: str, url: str, body: dict[str, object] | None = None) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        self.request(method, url, body=data,
                     headers={"Content-Type": "application/json"} if data else {})
        resp = self.getresponse()
        out = resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url}: {resp.status} {out[:200]!r}")
        return out


def submit(conn: Raw, tmp: str, **extra: object) -> int:
    body = {"name": "b", "working_dir": tmp, "argv": ["true"], "stdout": "/dev/null", **extra}
    return int(json.loads(conn.call("POST", "/v1/jobs", body))["id"])


def latency_ms(sock: str, tmp: str, n: int) -> float:
    """Median submit -> start of a trivial job on the idle node."""
    conn = Raw(sock)
    samples = []
    for _ in range(n):
        t0 = time.time()
        job_id = submit(conn, tmp)
        while True:
            job = json.loads(conn.call("GET", f"/v1/jobs/{job_id}/wait?timeout_s=30"))
            if job["t_start"] is not None:
                break
        samples.append(1000 * (job["t_start"] - t0))
    conn.close()
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pending", type=int, default=5000)
    ap.add_argument("--listings", type=int, default=200)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--latency-jobs", type=int, default=20)
    ap.add_argument("--pollers", type=int, default=4)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cb") as tmp:
        cluster = make_cluster(Path(tmp), cpus=2)
        sock = str(cluster.state / "corral.sock")
        pid = cluster.pid("controller")
        out: dict[str, float] = {}
        try:
            out["submit_to_start_idle_ms"] = latency_ms(sock, tmp, args.latency_jobs)

            # The queue: jobs pending until tomorrow (reason BeginTime).
            begin = time.time() + 86400
            per = args.pending // args.clients
            c0, t0 = cpu_s(pid), time.perf_counter()

            def fill(_: int) -> None:
                conn = Raw(sock)
                for _ in range(per):
                    submit(conn, tmp, t_begin=begin)
                conn.close()

            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(fill, range(args.clients)))
            n = per * args.clients
            out["submit_cpu_ms"] = 1000 * (cpu_s(pid) - c0) / n
            out["submits_per_s"] = n / (time.perf_counter() - t0)
            time.sleep(1.0)  # let the passes that follow the burst run

            conn = Raw(sock)
            listed = len(json.loads(conn.call("GET", "/v1/jobs"))["jobs"])
            c0, t0 = cpu_s(pid), time.perf_counter()
            for _ in range(args.listings):
                conn.call("GET", "/v1/jobs")
            dt = time.perf_counter() - t0
            out["listing_per_s"] = args.listings / dt
            out["listing_cpu_ms"] = 1000 * (cpu_s(pid) - c0) / args.listings
            out["listed_jobs"] = listed

            ids = [j["id"] for j in json.loads(conn.call("GET", "/v1/jobs"))["jobs"]]
            c0, t0 = cpu_s(pid), time.perf_counter()
            for i in range(args.queries):
                conn.call("GET", f"/v1/jobs/{ids[(i * 7919) % len(ids)]}")
            dt = time.perf_counter() - t0
            out["query_per_s"] = args.queries / dt
            out["query_cpu_ms"] = 1000 * (cpu_s(pid) - c0) / args.queries
            conn.close()

            out["submit_to_start_queued_ms"] = latency_ms(sock, tmp, args.latency_jobs)
            stop = threading.Event()
            polls = [0] * args.pollers

            def poll(k: int) -> None:
                mine = Raw(sock)
                while not stop.is_set():
                    mine.call("GET", "/v1/jobs")
                    polls[k] += 1
                mine.close()

            threads = [threading.Thread(target=poll, args=(k,)) for k in range(args.pollers)]
            for th in threads:
                th.start()
            t0 = time.perf_counter()
            try:
                out["submit_to_start_polled_ms"] = latency_ms(sock, tmp, args.latency_jobs)
            finally:
                stop.set()
                for th in threads:
                    th.join()
            out["polled_listings_per_s"] = sum(polls) / (time.perf_counter() - t0)
        finally:
            cluster.down()
    for key, value in out.items():
        print(f"{key:28s} {value:10.2f}")
    idle = out["submit_to_start_queued_ms"]
    print(f"{'polled_vs_idle_latency':28s} {out['submit_to_start_polled_ms'] / idle:10.2f}x")


if __name__ == "__main__":
    main()
