"""Simulator and scheduler-core throughput.

    python bench/sim_throughput.py [--limit N] [--ricc-conservative-limit N] [--skip-traces]
                                   [--ratio-only]

Prints simulated jobs/s for EASY and conservative backfilling on KTH-SP2 (pyss
preset) and RICC-2010-2 (corral preset; conservative re-planning every cycle
against keeping its plan on the first --ricc-conservative-limit jobs, with the
ratio, then keeping its plan on the whole trace), then the time of one full
`run_cycle` with 100,000 pending jobs on 10,000 nodes. Trace parsing is timed
separately from the replay. Traces are looked up in <repo>/../shared/traces.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

from corral.sched import (
    EASY,
    FCFS,
    Conservative,
    NodeView,
    PartitionView,
    PendingView,
    Policy,
    RunningView,
    Snapshot,
    run_cycle,
)
from corral.sim.engine import simulate
from corral.sim.jobs import jobs_from_swf
from corral.sim.metrics import compute
from corral.sim.settings import PRESETS
from corral.sim.swf import read_swf

TRACES = (
    Path(os.environ.get("CORRAL_SHARED") or Path(__file__).resolve().parents[1] / ".." / "shared")
    / "traces"
)
KTH = TRACES / "KTH-SP2-1996-2.1-cln.swf.gz"
RICC = TRACES / "RICC-2010-2.swf.gz"


def replay(
    path: Path, preset: str, policy: Policy, limit: int | None, **changes: str
) -> tuple[float, list[float], float]:
    """Replay and print one line; returns (jobs/s, start times, CPU seconds)."""
    t0 = time.perf_counter()
    trace = read_swf(path, limit)
    t_parse = time.perf_counter() - t0
    procs = trace.max_procs or 1
    settings = PRESETS[preset].replace(**changes)
    jobs = jobs_from_swf(trace.records, settings, procs)
    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(jobs, procs, policy, settings)
    dt = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    m = compute(res)
    label = policy.name + "".join(f" {k}={v}" for k, v in changes.items())
    print(
        f"{path.name:24s} {label:36s} {len(jobs):8,d} jobs {dt:8.2f} s "
        f"{len(jobs) / dt:10,.0f} jobs/s  (CPU {cpu_s:.2f} s; parse {t_parse:.1f} s; mean wait "
        f"{m.mean_wait_s:,.0f} s, bsld {m.mean_bounded_slowdown:,.1f})",
        flush=True,
    )
    return len(jobs) / dt, res.t_start, cpu_s


def big_snapshot(n_nodes: int, n_pending: int, seed: int = 1) -> Snapshot:
    rng = random.Random(seed)
    nodes = []
    running = []
    jid = 10_000_000
    for i in range(n_nodes):
        gpus = 4 if i % 10 == 0 else 0
        feats = frozenset({"avx512" if i % 2 else "avx2", "ib" if i % 3 else "eth"})
        used = rng.choice([32, 32, 32, 16, 0]) if i % 50 else 0
        if used:
            jid += 1
            running.append(
                RunningView(
                    jid, (f"n{i}",), used, used * 1000, 0, 0.0, float(rng.randrange(60, 86_400))
                )
            )
        nodes.append(
            NodeView(
                f"n{i}", 32, 128_000, gpus, feats, 32 - used, 128_000 - used * 1000, gpus, True
            )
        )
    pending = []
    for k in range(n_pending):
        pending.append(
            PendingView(
                job_id=k + 1,
                user=f"u{k % 200}",
                account=None,
                partition="all",
                nodes=rng.choice([1, 1, 1, 2, 4, 16, 64]),
                cpus_per_node=rng.choice([1, 4, 8, 32]),
                mem_mb_per_node=rng.choice([0, 1000, 4000, 64_000]),
                gpus_per_node=1 if k % 25 == 0 else 0,
                time_limit_s=float(rng.choice([600, 3600, 4 * 3600, 86_400])),
                t_submit=float(k),
                constraint=rng.choice([None, None, "avx512", "avx512&(ib|eth)"]),
            )
        )
    part = PartitionView("all", frozenset(n.name for n in nodes), 0.0)
    return Snapshot(tuple(nodes), tuple(running), tuple(pending), {"all": part})


def time_cycle(n_nodes: int, n_pending: int, policy: Policy) -> None:
    snap = big_snapshot(n_nodes, n_pending)
    t0 = time.perf_counter()
    d = run_cycle(snap, policy, now=100_000.0)
    dt = time.perf_counter() - t0
    with_start = sum(1 for p in d.pending.values() if p.t_expected_start is not None)
    print(
        f"run_cycle {policy.name:13s} {n_pending:8,d} pending on {n_nodes:6,d} nodes: "
        f"{dt:7.2f} s  ({len(d.starts):,d} starts, {len(d.pending):,d} reasons, "
        f"{with_start:,d} expected starts)",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="replay only the first N jobs")
    ap.add_argument(
        "--ricc-conservative-limit",
        type=int,
        default=20_000,
        help="jobs of RICC for conservative replan vs keep (0: all)",
    )
    ap.add_argument("--skip-traces", action="store_true")
    ap.add_argument(
        "--ratio-only",
        action="store_true",
        help="only the conservative replan / keep pair on RICC",
    )
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--pending", type=int, default=100_000)
    args = ap.parse_args()
    if not args.skip_traces:
        if not TRACES.exists():
            print(f"traces not found at {TRACES}; use --skip-traces")
        else:
            if not args.ratio_only:
                replay(KTH, "pyss", EASY(), args.limit)
                replay(KTH, "pyss", Conservative(), args.limit)
                replay(RICC, "corral", EASY(), args.limit)
            cons = args.ricc_conservative_limit or None
            if args.limit:
                cons = min(cons or args.limit, args.limit)
            # Before/after: re-planning the whole queue at every cycle against
            # keeping the plan (same jobs, same settings otherwise).
            # The ratio of CPU times is the one a shared machine's load does not skew.
            before, _, cpu_before = replay(
                RICC, "corral", Conservative(), cons, conservative_plan="replan"
            )
            after, _, cpu_after = replay(
                RICC, "corral", Conservative(), cons, conservative_plan="keep"
            )
            n = f"{cons:,d}" if cons else "all"
            print(
                f"conservative keep / replan, same first {n} jobs: {after / before:.1f}x "
                f"(wall), {cpu_before / cpu_after:.1f}x (CPU)"
            )
            if args.ratio_only:
                return
            replay(RICC, "corral", Conservative(), args.limit, conservative_plan="keep")
    time_cycle(args.nodes, args.pending, FCFS(expected_starts=False))
    time_cycle(args.nodes, args.pending, EASY())
    time_cycle(args.nodes, args.pending, Conservative(max_reservations=100))
    time_cycle(args.nodes, min(args.pending, 2_000), Conservative())


if __name__ == "__main__":
    main()
