"""The predictive policy's replay cost against EASY++'s, on RICC-2010-2.

    python bench/sim_predictive_speed.py [--limit N] [--policies easy++,predictive]

Replays the first --limit jobs (default 50,000; 0: the whole trace, 447,784
jobs) of RICC-2010-2 in the `pyss` preset under each policy, back to back in
this process, and prints per policy the wall and CPU time (the machine may be
shared: compare CPU times), jobs per CPU second, the number of passes, the
bounded slowdown and the longest wait, then each policy's CPU time over the
first's. Trace parsing is done once, before the timed replays. Traces are
looked up in <repo>/../shared/traces (or $CORRAL_SHARED/traces).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from corral.sim.engine import simulate
from corral.sim.jobs import jobs_from_swf
from corral.sim.metrics import compute
from corral.sim.run import make_policy
from corral.sim.settings import PRESETS
from corral.sim.swf import read_swf

TRACES = (
    Path(os.environ.get("CORRAL_SHARED") or Path(__file__).resolve().parents[1] / ".." / "shared")
    / "traces"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=50_000, help="first N jobs (0: all)")
    ap.add_argument("--policies", default="easy++,predictive")
    args = ap.parse_args()
    settings = PRESETS["pyss"]
    trace = read_swf(TRACES / "RICC-2010-2.swf.gz", args.limit or None)
    records = trace.records[: args.limit] if args.limit else trace.records
    jobs = jobs_from_swf(records, settings, trace.max_procs or 8192)
    print(f"RICC-2010-2, {len(jobs):,} jobs, pyss preset")
    print(
        "| policy | wall (s) | CPU (s) | jobs / CPU s | passes | bounded slowdown "
        "| max wait (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    cpu: dict[str, float] = {}
    for name in [p.strip() for p in args.policies.split(",") if p.strip()]:
        t0, c0 = time.perf_counter(), time.process_time()
        res = simulate(jobs, trace.max_procs or 8192, make_policy(name), settings)
        wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        m = compute(res, True)
        cpu[name] = cpu_s
        print(
            f"| {name} | {wall_s:.1f} | {cpu_s:.1f} | {len(jobs) / cpu_s:,.0f} | "
            f"{res.n_cycles:,} | {m.mean_bounded_slowdown:.2f} | {m.max_wait_s:,.0f} |"
        )
    first = next(iter(cpu.values()))
    print()
    print(", ".join(f"{p} {c / first:.2f} x" for p, c in cpu.items()), "of the first's CPU time")


if __name__ == "__main__":
    main()
