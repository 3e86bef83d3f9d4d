"""The controller's CPU per `corral submit`, thread by thread.

Starts a private corral (controller + one agent + SQLite), runs `--jobs` sequential
`corral submit --hold --wrap true` commands (one Python process each, as a user's
shell loop does) and prints, for each thread of the controller that used CPU in
the meantime, its user and system time per job (from /proc/<pid>/task/*/stat),
then the total and the commands' wall time per job. The threads are the web
server's (the read path), the writer's event loop (the write requests) and the
store writer's (the transactions).

    python bench/cli_submit_threads.py [--jobs 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.e2e.cluster import temp_cluster  # noqa: E402

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int) -> dict[str, tuple[float, float]]:
    """thread id -> (user, system) CPU seconds so far."""
    out: dict[str, tuple[float, float]] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        f = stat.rsplit(")", 1)[1].split()
        out[tid] = (int(f[11]) / TICKS_PER_S, int(f[12]) / TICKS_PER_S)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=200)
    a = ap.parse_args()
    cmd = [sys.executable, "-m", "corral.cli", "submit", "--hold", "-o", "/dev/null",
           "--wrap", "true"]
    with temp_cluster("corral-bench-", cpus=4) as c:
        time.sleep(2)  # a fresh controller settles
        pid = c.pid("controller")
        for _ in range(5):
            subprocess.run(cmd, env=c.env, capture_output=True, cwd=c.state, check=True)
        before = thread_cpu_s(pid)
        t0 = time.monotonic()
        for _ in range(a.jobs):
            subprocess.run(cmd, env=c.env, capture_output=True, cwd=c.state, check=True)
        wall_s = time.monotonic() - t0
        after = thread_cpu_s(pid)
    total_s = 0.0
    for tid, (user, system) in sorted(after.items()):
        u0, s0 = before.get(tid, (0.0, 0.0))
        du, ds = user - u0, system - s0
        total_s += du + ds
        if du + ds > 0:
            print(f"thread {tid}: user {1000 * du / a.jobs:.2f} ms/job, "
                  f"system {1000 * ds / a.jobs:.2f} ms/job")
    print(f"ctl_cpu_per_cli_submit {1000 * total_s / a.jobs:.2f} ms/job")
    print(f"cli_submit_wall {1000 * wall_s / a.jobs:.1f} ms/job")


if __name__ == "__main__":
    main()
