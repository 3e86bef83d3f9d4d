"""End-to-end throughput of trivial jobs: N held `true` jobs released by one
command, until none is active (the `e2e_trivial_jobs` figure of bench/compare.py,
alone, so that it can be repeated or profiled quickly).

Starts a private corral (controller + one agent of `--cpus` CPUs, SQLite) in a
temporary directory, submits `--jobs` held jobs in one batch, releases them with
`corral release`, and polls the queue until none is pending or running.

    python bench/e2e.py [--jobs 1000] [--cpus 256] [--rounds 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))
os.environ["PYTHONPATH"] = str(REPO / "src")

from tests.e2e.cluster import FINAL, make_cluster  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int, children: bool = False) -> float:
    """User + system CPU of a process so far (`children`: of its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    k = 13 if children else 11
    return (int(fields[k]) + int(fields[k + 1])) / CLK


def shepherds(agent: int) -> list[int]:
    """The agent's shepherds (corral.agent.shepherd): the supervisors' parents."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == agent and b"shepherd.py" in cmdline:
            out.append(int(entry.name))
    return out


def runs_cpu_s(agent: int) -> float:
    """CPU of the runs so far: the supervisors and jobs reaped by the agent or by its
    shepherd, and the shepherd's own."""
    total = cpu_s(agent, children=True)
    for pid in shepherds(agent):
        try:
            total += cpu_s(pid) + cpu_s(pid, children=True)
        except OSError:
            continue
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--cpus", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--cap-s", type=float, default=300)
    ap.add_argument("--pause-s", type=float, default=0,
                    help="wait this long before releasing (to attach a profiler)")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="corral-e2e-", dir="/tmp"))
    root.chmod(0o755)
    cluster = make_cluster(root, cpus=a.cpus)
    try:
        ctl, agent = cluster.pid("controller"), cluster.pid("agent")
        print(f"# controller pid {ctl}, agent pid {agent}", file=sys.stderr, flush=True)
        for _ in range(a.rounds):
            with cluster.client() as c:
                req = {"working_dir": str(root), "argv": ["true"], "stdout": "/dev/null",
                       "hold": True}
                ids = [r.id for r in c.submit_batch([{"name": f"e{i}", **req}
                                                     for i in range(a.jobs)])
                       if r.id is not None]
            time.sleep(a.pause_s)
            c0, a0, k0 = cpu_s(ctl), cpu_s(agent), runs_cpu_s(agent)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "corral.cli", "release", *map(str, ids)],
                           env=cluster.env, check=True, stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + a.cap_s
            with cluster.client() as c:
                while True:
                    left = sum(1 for j in c.jobs() if j["state"] not in FINAL)
                    if not left or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
            dt = time.perf_counter() - t0
            done = len(ids) - left
            print(f"e2e_trivial_jobs {done / dt:.4g} jobs/s ({done} in {dt:.2f} s)")
            print(f"ctl_cpu_per_e2e_job {1000 * (cpu_s(ctl) - c0) / max(done, 1):.3g} ms/job")
            print(f"agent_cpu_per_e2e_job {1000 * (cpu_s(agent) - a0) / max(done, 1):.3g} "
                  "ms/job (its own process)")
            print(f"runs_cpu_per_e2e_job {1000 * (runs_cpu_s(agent) - k0) / max(done, 1):.3g} "
                  "ms/job (shepherd, supervisors and jobs)")
            print(f"# load average {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
