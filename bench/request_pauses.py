"""The controller's CPU per submit request, back to back against with pauses between.

Starts a private corral (controller + one agent + SQLite) and sends `--jobs` held
submits (POST /v1/jobs) from this process in each mode, printing the controller's
CPU (all threads, /proc) per request:

- keep-0: one keep-alive connection, back to back;
- new-0: a new connection per request, back to back;
- keep-P / new-P: the same with a pause of P ms after each request (what a
  CLI's start-up leaves between two submits of a shell loop);
- spin-P: a new connection per request, the client spinning through the pause
  instead of sleeping (the machine stays busy).

The modes run twice, alternated, so that a drift of the machine shows.

    python bench/request_pauses.py [--jobs 200] [--pause-ms 80]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cli_submit_threads import thread_cpu_s  # noqa: E402
from bench.controller_cpu import Raw  # noqa: E402
from tests.e2e.cluster import temp_cluster  # noqa: E402


def cpu_s(pid: int) -> float:
    return sum(u + s for u, s in thread_cpu_s(pid).values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--pause-ms", type=float, default=80.0)
    a = ap.parse_args()
    pause_s = a.pause_ms / 1000
    p = f"{a.pause_ms:g}"
    with temp_cluster("corral-pauses-", cpus=4) as c:
        time.sleep(2)  # a fresh controller settles
        pid = c.pid("controller")
        sock = str(c.state / "corral.sock")
        body = {"name": "b", "working_dir": str(c.state), "argv": ["true"],
                "stdout": "/dev/null", "hold": True}
        warm = Raw(sock)
        for _ in range(20):
            warm.call("POST", "/v1/jobs", body)
        warm.close()
        for mode in ["keep-0", "new-0", f"keep-{p}", f"new-{p}", f"spin-{p}"] * 2:
            kind, _, wait = mode.partition("-")
            conn = Raw(sock)
            c0 = cpu_s(pid)
            for _ in range(a.jobs):
                if kind != "keep":
                    conn = Raw(sock)
                conn.call("POST", "/v1/jobs", body)
                if kind != "keep":
                    conn.close()
                if wait != "0":
                    if kind == "spin":
                        t = time.perf_counter()
                        while time.perf_counter() - t < pause_s:
                            pass
                    else:
                        time.sleep(pause_s)
            conn.close()
            print(f"{mode:10} ctl_cpu_per_request {1000 * (cpu_s(pid) - c0) / a.jobs:.2f} ms",
                  flush=True)


if __name__ == "__main__":
    main()
