"""`corral sim`: replay a workload trace through the scheduler core."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

# Kept here so that importing the command does not import the scheduler core
# (tests check they match corral.sched.POLICIES and corral.sim.settings.PRESETS).
POLICY_NAMES = ("fcfs", "easy", "conservative", "easy++", "predictive")
PRESET_NAMES = ("corral", "pyss", "cqsim", "rlscheduler")
# Score policies of the rlscheduler protocol (corral.sched.scores.SCORES).
RL_POLICY_NAMES = ("fcfs", "sjf", "wfp3", "unicep", "f1")
# A real trace shipped with corral (attribution: corral/sim/data/README.md).
SAMPLE_TRACE = Path(__file__).resolve().parent / "data" / "kth-sp2-sample.swf.gz"


def _fail(msg: str, code: int = 2) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


@click.command("sim")
@click.argument("trace", type=click.Path(dir_okay=False), required=False)
@click.option("--sample", is_flag=True,
              help="Replay the sample shipped with corral: the first 500 jobs of the "
              "KTH SP2 log (Parallel Workloads Archive).")
@click.option(
    "--policy",
    "policy",
    default="easy",
    show_default=True,
    help=f"Scheduling policy: {'|'.join(POLICY_NAMES)}; with --preset rlscheduler "
    f"{'|'.join(RL_POLICY_NAMES)}.",
)
@click.option(
    "--preset",
    default="corral",
    show_default=True,
    help=f"Replay semantics: {'|'.join(PRESET_NAMES)}.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override one replay setting of the preset (see docs/sim.md).",
)
@click.option(
    "--backfill",
    is_flag=True,
    help="--preset rlscheduler only: RLScheduler's backfilling (rl_backfill=true).",
)
@click.option("--procs", type=int, default=None, help="Machine size (default: trace header).")
@click.option("--limit", "limit_jobs", type=int, default=None, help="Replay only the first N jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as one JSON object.")
@click.option(
    "--expected-starts",
    is_flag=True,
    help="Promise each job a start when it arrives (the policy's plan of the queue) "
    "and report how far the real starts were from the promises.",
)
@click.option(
    "--jobs-out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write per-job results (id,submit,start,end,procs,...) to this CSV file.",
)
@click.option(
    "--plots",
    type=click.Path(file_okay=False),
    default=None,
    help="Write utilization, queue-length and wait-histogram PNGs to this directory.",
)
def sim(
    trace: str | None,
    sample: bool,
    policy: str,
    preset: str,
    sets: tuple[str, ...],
    backfill: bool,
    procs: int | None,
    limit_jobs: int | None,
    as_json: bool,
    expected_starts: bool,
    jobs_out: str | None,
    plots: str | None,
) -> None:
    """Replay the SWF TRACE (.swf or .swf.gz) and report wait, slowdown, utilization.

    No trace at hand? --sample replays a small real one shipped with corral.
    """
    if sample == (trace is not None):
        _fail("give a TRACE file or --sample (one of them)")
    trace = str(SAMPLE_TRACE) if trace is None else trace
    from corral.sim.report import write_jobs_csv, write_plots
    from corral.sim.run import SimError, make_settings, replay

    overrides: dict[str, str] = {}
    for item in sets:
        if "=" not in item:
            _fail(f"--set {item!r}: use KEY=VALUE")
        k, v = item.split("=", 1)
        overrides[k.strip()] = v.strip()
    if procs is not None and procs <= 0:
        _fail("--procs must be positive")
    if backfill:
        overrides["rl_backfill"] = "true"
    try:
        protocol = make_settings(preset, overrides).protocol
    except SimError as e:
        _fail(str(e))
        return
    if protocol == "rlscheduler":
        if procs is not None or limit_jobs or jobs_out or plots or expected_starts:
            _fail(
                "--procs, --limit, --jobs-out, --plots and --expected-starts do not apply "
                "to the rlscheduler protocol"
            )
        _rl(trace, policy, preset, overrides, as_json)
        return
    if backfill:
        _fail("--backfill applies to --preset rlscheduler only (use --policy easy)")
    t0 = time.perf_counter()
    try:
        rep = replay(
            trace,
            policy,
            preset,
            procs=procs,
            limit_jobs=limit_jobs,
            overrides=overrides,
            expected_starts=expected_starts,
        )
    except SimError as e:
        _fail(str(e))
        return
    wall_s = time.perf_counter() - t0
    m = rep.metrics
    if jobs_out:
        write_jobs_csv(rep.result, jobs_out)
    if plots:
        try:
            write_plots(rep.result, plots, title=f"{rep.trace} {policy}")
        except ImportError:
            _fail("--plots needs matplotlib (pip install 'corral[sim]')", 1)
    if as_json:
        d = m.to_dict()
        d.update(
            trace=rep.trace,
            policy=policy,
            preset=preset,
            procs=rep.result.procs_total,
            wall_s=round(wall_s, 3),
        )
        if rep.expected_start_accuracy is not None:
            d["expected_start"] = rep.expected_start_accuracy.to_dict()
        click.echo(json.dumps(d))
        return
    click.echo(
        f"trace        {rep.trace} ({m.jobs_simulated} jobs, {rep.result.procs_total} processors)"
    )
    click.echo(f"policy       {policy} (preset {preset})")
    click.echo(f"jobs         {m.jobs} averaged")
    click.echo(f"mean wait    {m.mean_wait_s:,.1f} s")
    click.echo(f"mean bsld    {m.mean_bounded_slowdown:,.2f} (tau = 10 s)")
    click.echo(f"utilization  {m.utilization:.4f}")
    click.echo(f"makespan     {m.makespan_s:,.0f} s")
    acc = rep.expected_start_accuracy
    if acc is not None:
        click.echo(
            f"promised     {acc.jobs_with_estimate} jobs a start at submit, "
            f"{acc.jobs_waiting} of them waited"
        )
        click.echo(
            f"start error  median {acc.median_abs_error_s:,.0f} s (all), "
            f"{acc.median_abs_error_waiting_s:,.0f} s (waited; mean "
            f"{acc.mean_abs_error_waiting_s:,.0f} s, {acc.late_fraction:.0%} started late)"
        )
    click.echo(f"wall time    {wall_s:.2f} s ({m.jobs_simulated / max(wall_s, 1e-9):,.0f} jobs/s)")


def _rl(trace: str, policy: str, preset: str, overrides: dict[str, str], as_json: bool) -> None:
    from corral.sim.run import SimError, rl_cell

    t0 = time.perf_counter()
    try:
        cell = rl_cell(trace, policy, preset, overrides=overrides)
    except SimError as e:
        _fail(str(e))
        return
    wall_s = time.perf_counter() - t0
    if as_json:
        d = cell.to_dict()
        d.update(preset=preset, wall_s=round(wall_s, 3))
        click.echo(json.dumps(d))
        return
    n = len(cell.windows)
    click.echo(f"trace        {cell.trace} ({cell.nodes} nodes, {cell.procs} processors)")
    click.echo(
        f"protocol     rlscheduler: {n} windows of {cell.windows[0].jobs} jobs, "
        f"policy {policy}, backfilling {'on' if cell.backfill else 'off'}"
    )
    click.echo(f"mean bsld    {cell.mean_bounded_slowdown:,.2f} (mean over windows, tau = 10 s)")
    click.echo(f"utilization  {cell.utilization:.3f} (mean over windows)")
    click.echo(f"mean wait    {cell.mean_wait_s:,.1f} s")
    click.echo(f"wall time    {wall_s:.2f} s")
