"""`corral sim`: replay a workload trace through the scheduler core."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from corral.sim.run import Replay

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
@click.option(
    "--from-store",
    "from_store",
    is_flag=True,
    help="Replay the finished jobs of this site's corral store instead of a TRACE "
    "(the database of the configuration, or --store).",
)
@click.option("--store", "store_url", default=None, metavar="URL",
              help="--from-store: the store's database URL (default: the site's).")
@click.option("--days", type=float, default=None,
              help="--from-store: only the jobs submitted in the last N days.")
@click.option("--sample", is_flag=True,
              help="Replay the sample shipped with corral: the first 500 jobs of the "
              "KTH SP2 log (Parallel Workloads Archive).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Replay with this corral.toml's scheduler policy, age and fair-share weights, "
    "usage half-life and node CPUs (--policy, --set and --procs still win).",
)
@click.option(
    "--policy",
    "policy",
    default=None,
    help=f"Scheduling policy (default easy, or the --config's): {'|'.join(POLICY_NAMES)}; "
    "with --preset rlscheduler "
    f"{'|'.join(RL_POLICY_NAMES)}. Several, comma-separated: a table comparing them.",
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
    config_path: str | None,
    from_store: bool,
    store_url: str | None,
    days: float | None,
    sample: bool,
    policy: str | None,
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
    if sample + from_store + (trace is not None) != 1:
        _fail("give a TRACE file, --sample or --from-store (one of them)")
    if (store_url is not None or days is not None) and not from_store:
        _fail("--store and --days apply to --from-store only")
    if days is not None and not days > 0:  # NaN too
        _fail(f"--days must be positive (got {days})")
    trace = str(SAMPLE_TRACE) if trace is None else trace
    from corral.sim.report import write_jobs_csv, write_plots
    from corral.sim.run import SimError, make_policy, make_settings, replay, replay_store
    from corral.sim.settings import MAX_PROCS

    overrides: dict[str, str] = {}
    guard: dict[str, object] = {}
    site_note = ""
    if config_path is not None:
        from corral.sim.site import SiteConfigError, read_site

        try:
            site = read_site(config_path)
        except SiteConfigError as e:
            _fail(str(e))
            return
        overrides.update(site.overrides)
        guard = site.guard
        policy = policy or site.policy
        procs = procs or site.procs
        left = ", ".join(site.not_replayed) or "nothing"
        site_note = f"{config_path} (not replayed: {left})"
    policy = policy or "easy"
    for item in sets:
        if "=" not in item:
            _fail(f"--set {item!r}: use KEY=VALUE")
        k, v = item.split("=", 1)
        overrides[k.strip()] = v.strip()
    if procs is not None and not 1 <= procs <= MAX_PROCS:
        _fail(f"--procs must be between 1 and {MAX_PROCS:,} (got {procs})")
    if limit_jobs is not None and limit_jobs < 1:
        _fail(f"--limit must be at least 1 (got {limit_jobs})")
    if backfill:
        overrides["rl_backfill"] = "true"
    try:
        protocol = make_settings(preset, overrides).protocol
    except SimError as e:
        _fail(str(e))
        return
    if protocol == "rlscheduler":
        if from_store:
            _fail("--from-store does not apply to the rlscheduler protocol")
        if procs is not None or limit_jobs or jobs_out or plots or expected_starts:
            _fail(
                "--procs, --limit, --jobs-out, --plots and --expected-starts do not apply "
                "to the rlscheduler protocol"
            )
        _rl(trace, policy, preset, overrides, as_json)
        return
    if backfill:
        _fail("--backfill applies to --preset rlscheduler only (use --policy easy)")
    if from_store and limit_jobs:
        _fail("--limit does not apply to --from-store (use --days)")
    url = ""
    if from_store:
        url = store_url or _site_database()

    def run_one(name: str) -> Replay:
        pol = make_policy(name, guard)
        if from_store:
            since = time.time() - days * 86400 if days is not None else None
            return replay_store(
                url,
                pol,
                preset,
                procs=procs,
                overrides=overrides,
                expected_starts=expected_starts,
                since=since,
            )
        return replay(
            trace,
            pol,
            preset,
            procs=procs,
            limit_jobs=limit_jobs,
            overrides=overrides,
            expected_starts=expected_starts,
        )

    names = [p.strip() for p in policy.split(",") if p.strip()]
    if len(names) > 1:
        if jobs_out or plots:
            _fail("--jobs-out and --plots take one policy")
        _compare(names, run_one, preset, as_json, site_note)
        return
    out_dir = Path(jobs_out).resolve().parent if jobs_out else None
    if out_dir is not None and not out_dir.is_dir():  # before the replay, which may take long
        _fail(f"--jobs-out {jobs_out}: no directory {out_dir}")
    t0 = time.perf_counter()
    try:
        rep = run_one(policy)
    except SimError as e:
        _fail(str(e))
        return
    wall_s = time.perf_counter() - t0
    m = rep.metrics
    if jobs_out:
        try:
            write_jobs_csv(rep.result, jobs_out)
        except OSError as e:
            _fail(f"--jobs-out {jobs_out}: {e.strerror or e}")
    if plots:
        try:
            write_plots(rep.result, plots, title=f"{rep.trace} {policy}")
        except ImportError:
            _fail("--plots needs matplotlib (pip install 'corral[sim]')", 1)
        except OSError as e:
            _fail(f"--plots {plots}: {e.strerror or e}")
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
        if rep.energy is not None:
            d["energy"] = rep.energy.to_dict()
        if site_note:
            d["site_config"] = site_note
        click.echo(json.dumps(d))
        return
    click.echo(
        f"trace        {rep.trace} ({m.jobs_simulated} jobs, {rep.result.procs_total} processors)"
    )
    click.echo(f"policy       {policy} (preset {preset})")
    if site_note:
        click.echo(f"site config  {site_note}")
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
    if rep.energy is not None:
        en = rep.energy
        click.echo(f"energy       {en.energy_kwh:,.1f} kWh busy ({en.efficiency_share:.1%} of "
                   f"the processor time on efficiency cores; {en.jobs_on_efficiency} jobs on "
                   f"them, {en.killed_slowed} slowed past their limit)")
    click.echo(f"wall time    {wall_s:.2f} s ({m.jobs_simulated / max(wall_s, 1e-9):,.0f} jobs/s)")


def _site_database() -> str:
    from corral.config import load_config
    from corral.model.errors import InvalidRequest

    try:
        return load_config().database_url
    except InvalidRequest as e:
        _fail(str(e))
        return ""


def _compare(
    names: list[str],
    run_one: Callable[[str], Replay],
    preset: str,
    as_json: bool,
    site_note: str = "",
) -> None:
    from corral.sim.run import SimError

    rows = []
    for name in names:
        t0 = time.perf_counter()
        try:
            rep = run_one(name)
        except SimError as e:
            _fail(str(e))
            return
        rows.append((name, rep, time.perf_counter() - t0))
    if as_json:
        out = []
        for name, rep, wall_s in rows:
            d = rep.metrics.to_dict()
            d.update(trace=rep.trace, policy=name, preset=preset, wall_s=round(wall_s, 3))
            if site_note:
                d["site_config"] = site_note
            if rep.expected_start_accuracy is not None:
                d["expected_start"] = rep.expected_start_accuracy.to_dict()
            if rep.energy is not None:
                d["energy"] = rep.energy.to_dict()
            out.append(d)
        click.echo(json.dumps(out))
        return
    first = rows[0][1]
    click.echo(
        f"trace  {first.trace} ({first.metrics.jobs_simulated} jobs, "
        f"{first.result.procs_total} processors), preset {preset}"
    )
    if site_note:
        click.echo(f"site config  {site_note}")
    promised = first.expected_start_accuracy is not None
    head = (
        f"{'policy':14s} {'bsld':>10s} {'mean wait s':>12s} {'p99 wait s':>12s} "
        f"{'max wait s':>12s} {'util':>7s}"
    )
    click.echo(head + ("  start error (median, waited)" if promised else ""))
    for name, rep, _ in rows:
        m = rep.metrics
        line = (
            f"{name:14s} {m.mean_bounded_slowdown:10,.2f} {m.mean_wait_s:12,.0f} "
            f"{m.p99_wait_s:12,.0f} {m.max_wait_s:12,.0f} {m.utilization:7.4f}"
        )
        acc = rep.expected_start_accuracy
        if acc is not None:
            line += f"  {acc.median_abs_error_waiting_s:,.0f} s"
        click.echo(line)


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
