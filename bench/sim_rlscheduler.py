"""Print RLScheduler's heuristic tables as corral reproduces them, with timings.

    python bench/sim_rlscheduler.py [TRACES_DIR]

Each cell: mean over 10 windows of 1,024 jobs of the bounded slowdown and the
utilization (docs/sim.md, "RLScheduler's heuristic tables").
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from corral.sim.rlsched import table_cell
from corral.sim.swf import read_swf

POLICIES = ("fcfs", "wfp3", "unicep", "sjf", "f1")  # the README's column order
TRACES = {"Lublin-1": "lublin_256.swf.gz", "Lublin-2": "lublin_256_new2.swf.gz"}


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else (here / "../shared/traces").resolve()
    print(f"| trace | backfilling | {' | '.join(p.upper() for p in POLICIES)} | seconds |")
    print("|---|---|" + "---|" * (len(POLICIES) + 1))
    for label, name in TRACES.items():
        trace = read_swf(root / name)
        for backfill in (False, True):
            t0 = time.perf_counter()
            cells = [table_cell(trace, p, backfill) for p in POLICIES]
            dt = time.perf_counter() - t0
            row = " | ".join(f"{c.mean_bounded_slowdown:.2f} / {c.utilization:.3f}" for c in cells)
            print(f"| {label} | {'on' if backfill else 'off'} | {row} | {dt:.2f} |")


if __name__ == "__main__":
    main()
