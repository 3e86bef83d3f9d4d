"""Policies compared on whole traces: the table of docs/sim.md.

    python bench/sim_policies.py [--ricc-limit N] [--workers N] [--traces kth,sdsc,ricc]
                                 [--accuracy kth,sdsc,ricc] [--policies fcfs,easy,...]

Replays KTH-SP2, the CQSim-derived SDSC-SP2 log and RICC-2010-2 (its first
--ricc-limit jobs; default the whole trace) in the `pyss` preset under FCFS,
EASY, conservative, EASY++ and the predictive policy (with its learned model,
the default, and with the recent-runtimes predictor, `predictive-recent`), and
prints bounded
slowdown, mean wait, max wait and utilization per replay, the predictive
policy's bounded slowdown against EASY++'s, and the accuracy of the expected
start given at submit (EASY++ and predictive, on the --accuracy traces:
promising starts makes a replay several times slower). Replays run in --workers
processes (default 2). Traces are looked up in <repo>/../shared/traces (or
$CORRAL_SHARED/traces).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from corral.sched.policies import Policy, Predictive
from corral.sched.predict import RuntimePredictor
from corral.sim.run import replay

TRACES = (
    Path(os.environ.get("CORRAL_SHARED") or Path(__file__).resolve().parents[1] / ".." / "shared")
    / "traces"
)
FILES = {
    "kth": "KTH-SP2-1996-2.1-cln.swf.gz",
    "sdsc": "SDSC-SP2-1998-4.cqsim-derived.swf.gz",
    "ricc": "RICC-2010-2.swf.gz",
}
POLICIES = ("fcfs", "easy", "conservative", "easy++", "predictive", "predictive-recent")
ACCURACY = ("easy++", "predictive")


def one(
    trace: str, policy: str, limit: int | None, promise: bool
) -> dict[str, float | str | int]:
    t0 = time.perf_counter()
    pol: str | Policy = policy
    if policy == "predictive-recent":
        pol = Predictive(predictor=RuntimePredictor())
    rep = replay(
        TRACES / FILES[trace],
        pol,
        "pyss",
        limit_jobs=limit,
        expected_starts=promise and policy in ACCURACY,
    )
    m = rep.metrics
    out: dict[str, float | str | int] = {
        "trace": trace,
        "policy": policy,
        "jobs": m.jobs_simulated,
        "bsld": m.mean_bounded_slowdown,
        "wait_s": m.mean_wait_s,
        "max_wait_s": m.max_wait_s,
        "p99_wait_s": m.p99_wait_s,
        "top100_wait_s": m.top100_wait_s,
        "util": m.utilization,
        "wall_s": time.perf_counter() - t0,
    }
    acc = rep.expected_start_accuracy
    if acc is not None:
        out["start_given"] = acc.jobs_with_estimate
        out["start_waited"] = acc.jobs_waiting
        out["err_median_s"] = acc.median_abs_error_s
        out["err_median_waited_s"] = acc.median_abs_error_waiting_s
        out["err_mean_waited_s"] = acc.mean_abs_error_waiting_s
        out["late"] = acc.late_fraction
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ricc-limit", type=int, default=None, help="first N RICC-2010-2 jobs")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--traces", default="kth,sdsc,ricc")
    ap.add_argument("--accuracy", default="kth,sdsc,ricc", help="traces to promise starts on")
    ap.add_argument("--policies", default=",".join(POLICIES),
                    help="the policies to replay (easy++ and easy are the ratios' references)")
    args = ap.parse_args()
    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    for p in policies:
        if p not in POLICIES:
            ap.error(f"unknown policy {p!r} (choose from {', '.join(POLICIES)})")
    traces = [t.strip() for t in args.traces.split(",") if t.strip()]
    promised = {t.strip() for t in args.accuracy.split(",") if t.strip()}
    for t in [*traces, *promised]:
        if t not in FILES:
            ap.error(f"unknown trace {t!r} (choose from {', '.join(FILES)})")
    runs = [
        (t, p, args.ricc_limit if t == "ricc" else None, t in promised)
        for t in traces
        for p in policies
    ]
    # the slow replays first, so the pool is not left waiting on one at the end
    slow = ("conservative", "predictive", "predictive-recent", "easy++")
    runs.sort(key=lambda r: (r[0] != "ricc", r[1] not in slow))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        futs = {r: ex.submit(one, *r) for r in runs}
        rows = {r[:2]: f.result() for r, f in futs.items()}
    print(f"pyss preset; {time.perf_counter() - t0:.0f} s wall with {args.workers} workers")
    print()
    print(
        "| trace | jobs | policy | bounded slowdown | mean wait (s) | p99 wait (s) "
        "| mean of the 100 longest waits (s) | max wait (s) | utilization |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for t in traces:
        for p in policies:
            r = rows[(t, p)]
            print(
                f"| {t} | {r['jobs']:,} | {p} | {r['bsld']:,.2f} | {r['wait_s']:,.0f} | "
                f"{r['p99_wait_s']:,.0f} | {r['top100_wait_s']:,.0f} | "
                f"{r['max_wait_s']:,.0f} | {r['util']:.4f} |"
            )
    print()
    print(
        "| trace | policy | bounded slowdown against EASY++'s | max wait / EASY's "
        "| p99 wait / EASY's | 100 longest / EASY's |"
    )
    print("|---|---|---|---|---|---|")
    for t in traces:
        ez, e = rows.get((t, "easy++")), rows.get((t, "easy"))
        for p in ("predictive", "predictive-recent"):
            pr = rows.get((t, p))
            if pr is None or ez is None or e is None:
                continue
            gain = 1 - float(pr["bsld"]) / float(ez["bsld"])
            mw = float(pr["max_wait_s"]) / float(e["max_wait_s"])
            p99 = float(pr["p99_wait_s"]) / float(e["p99_wait_s"])
            top = float(pr["top100_wait_s"]) / float(e["top100_wait_s"])
            print(f"| {t} | {p} | {gain:.1%} lower | {mw:.3f} | {p99:.3f} | {top:.3f} |")
    print()
    print(
        "| trace | policy | jobs promised a start | of which waited "
        "| median abs. error, all (s) | median abs. error, waited (s) "
        "| mean abs. error, waited (s) | started later than promised |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for t in traces:
        for p in ACCURACY:
            r = rows.get((t, p), {})
            if "start_given" not in r:
                continue
            print(
                f"| {t} | {p} | {r['start_given']:,} | {r['start_waited']:,} | "
                f"{r['err_median_s']:,.0f} | {r['err_median_waited_s']:,.0f} | "
                f"{r['err_mean_waited_s']:,.0f} | {float(r['late']):.1%} |"
            )
    print()
    for t in traces:
        walls = ", ".join(f"{p} {rows[(t, p)]['wall_s']:.0f} s" for p in policies)
        print(f"wall time {t}: {walls}")


if __name__ == "__main__":
    main()
