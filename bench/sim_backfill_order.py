"""EASY with only its backfill order changed: how far the longest wait moves.

    python bench/sim_backfill_order.py [--ricc-limit N] [--workers N]

Replays KTH-SP2, the CQSim-derived SDSC-SP2 log and RICC-2010-2's first
--ricc-limit jobs (default 20,000) in the `pyss` preset under EASY as it is
(candidates in queue order) and under EASY with its candidates tried shortest
limit first, youngest first and longest limit first. The reservation of the
first waiting job and every backfill check are EASY's, made with the limits;
only which candidate is tried first differs. Prints, per replay, the bounded
slowdown and the longest wait, the 99th-percentile wait and the mean of the
100 longest waits, each over EASY's (docs/sim.md, "The longest wait").
Traces are looked up in <repo>/../shared/traces (or $CORRAL_SHARED/traces).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

from sim_policies import FILES, TRACES  # the same traces, found the same way

from corral.sched.policies import EASY
from corral.sched.request import Req
from corral.sim.run import replay


class ShortestLimitFirst(EASY):
    def backfill_order(self, tail: list[Req]) -> list[Req]:
        return sorted(tail, key=lambda r: r.limit_s)


class YoungestFirst(EASY):
    def backfill_order(self, tail: list[Req]) -> list[Req]:
        return tail[::-1]


class LongestLimitFirst(EASY):
    def backfill_order(self, tail: list[Req]) -> list[Req]:
        return sorted(tail, key=lambda r: -r.limit_s)


ORDERS: dict[str, type[EASY]] = {
    "queue order (EASY)": EASY,
    "shortest limit first": ShortestLimitFirst,
    "youngest first": YoungestFirst,
    "longest limit first": LongestLimitFirst,
}


def one(trace: str, order: str, limit: int | None) -> tuple[float, float, float, float]:
    m = replay(TRACES / FILES[trace], ORDERS[order](), "pyss", limit_jobs=limit).metrics
    return m.mean_bounded_slowdown, m.max_wait_s, m.p99_wait_s, m.top100_wait_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ricc-limit", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    runs = [(t, o) for t in FILES for o in ORDERS]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        futs = {
            r: ex.submit(one, r[0], r[1], args.ricc_limit if r[0] == "ricc" else None)
            for r in runs
        }
        rows = {r: f.result() for r, f in futs.items()}
    print(f"pyss preset; {time.perf_counter() - t0:.0f} s wall with {args.workers} workers")
    print()
    print(
        "| trace | backfill order | bounded slowdown | longest wait / EASY's "
        "| p99 wait / EASY's | 100 longest / EASY's |"
    )
    print("|---|---|---|---|---|---|")
    for t in FILES:
        _, e_max, e_p99, e_top = rows[(t, "queue order (EASY)")]
        for o in ORDERS:
            bsld, mx, p99, top = rows[(t, o)]
            print(
                f"| {t} | {o} | {bsld:.2f} | {mx / e_max:.3f} | {p99 / e_p99:.3f} "
                f"| {top / e_top:.3f} |"
            )


if __name__ == "__main__":
    main()
