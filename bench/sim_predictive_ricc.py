"""Where the predictive policy's bounded slowdown accrues on RICC-2010-2,
against EASY++'s.

    python bench/sim_predictive_ricc.py [--limit N] [--policies easy++,predictive]

Replays the first --limit jobs (default 40,000) of RICC-2010-2 in the `pyss`
preset under each policy and prints, per week of submits, the jobs submitted,
each policy's bounded slowdown (10 s bound) and longest wait; for the
predictive policy also the passes with the starvation guard on, the most jobs
starving at once, and the starving threshold (min / max over the week).
`predictive/starve_book_max=8;starving_at_limits=1` sets `Predictive` fields.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from pathlib import Path

from corral.sched import Policy, Predictive, Req
from corral.sim.engine import simulate
from corral.sim.jobs import jobs_from_swf
from corral.sim.run import make_policy
from corral.sim.settings import PRESETS
from corral.sim.swf import read_swf

TRACES = (
    Path(os.environ.get("CORRAL_SHARED") or Path(__file__).resolve().parents[1] / ".." / "shared")
    / "traces"
)
WEEK_S = 7 * 24 * 3600.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=40_000)
    ap.add_argument(
        "--policies",
        default="easy++,predictive",
        help="comma-separated; predictive/key=value;key=value sets Predictive fields",
    )
    ap.add_argument("--trace", default="RICC-2010-2.swf.gz")
    args = ap.parse_args()
    settings = PRESETS["pyss"]
    trace = read_swf(TRACES / args.trace, args.limit or None)
    records = trace.records[: args.limit] if args.limit else trace.records
    jobs = jobs_from_swf(records, settings, trace.max_procs or 8192)
    t0 = min(j.t_submit for j in jobs)
    procs = trace.max_procs or 8192
    per: dict[str, dict[int, list[float]]] = {}
    guard: dict[int, list[float]] = defaultdict(lambda: [0, 0, float("inf"), 0.0, 0])
    for name in [p.strip() for p in args.policies.split(",") if p.strip()]:
        base, _, kv = name.partition("/")
        fields: dict[str, float] = {
            k: float(v) for k, v in (a.split("=") for a in kv.split(";") if a)
        }
        if "starve_book_max" in fields:
            fields["starve_book_max"] = int(fields["starve_book_max"])
        pol: Policy = make_policy(base, fields or None)

        def on_cycle(now: float, queue: list[Req], started: list[Req], pol: Policy = pol) -> None:
            if not isinstance(pol, Predictive):
                return
            cut_s = pol.starve_after_s()
            n = sum(1 for r in queue if now - r.t_submit >= cut_s)
            g = guard[int((now - t0) // WEEK_S)]
            g[4] += 1
            if n:
                g[0] += 1
                g[1] = max(g[1], n)
            g[2] = min(g[2], cut_s)
            g[3] = max(g[3], cut_s)

        c0 = time.process_time()
        res = simulate(jobs, procs, pol, settings, on_cycle=on_cycle)
        cpu_s = time.process_time() - c0
        weeks: dict[int, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
        tot = 0.0
        for j, ts, te in zip(res.jobs, res.t_start, res.t_end, strict=True):
            if not j.valid:
                continue
            w = ts - j.t_submit
            run = te - ts
            b = max(1.0, (w + run) / max(run, 10.0))
            tot += b
            k = int((j.t_submit - t0) // WEEK_S)
            rec = weeks[k]
            rec[0] += 1
            rec[1] += b
            rec[2] = max(rec[2], w)
            rec[3] += w
        n = sum(v[0] for v in weeks.values())
        print(f"{name}: {n:,} jobs, bsld {tot / n:.2f}, CPU {cpu_s:.0f} s")
        per[name] = weeks
    names = list(per)
    print()
    hdr = " | ".join(f"{p} bsld | {p} max wait (s)" for p in names)
    print(f"| week | jobs | {hdr} | guard passes / passes | most starving | threshold (s) |")
    print("|" + "---|" * (2 + 2 * len(names) + 3))
    for k in sorted(per[names[0]]):
        cells = []
        for p in names:
            r = per[p][k]
            cells.append(f"{r[1] / r[0]:,.1f} | {r[2]:,.0f}")
        g = guard.get(k)
        gs = (
            f"{int(g[0])} / {int(g[4])} | {int(g[1])} | {g[2]:,.0f}-{g[3]:,.0f}"
            if g
            else "- | - | -"
        )
        print(f"| {k} | {int(per[names[0]][k][0]):,} | {' | '.join(cells)} | {gs} |")


if __name__ == "__main__":
    main()
