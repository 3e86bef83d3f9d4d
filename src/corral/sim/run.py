"""One replay from a trace path: load, apply settings, simulate, measure."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path

from corral.model.bounds import float_problem, int_problem
from corral.sched import POLICIES, Policy, Predictive
from corral.sim.energy import EnergyReport, EnergySettingError, HybridCores
from corral.sim.engine import SimResult, simulate
from corral.sim.jobs import SimJob, jobs_from_swf
from corral.sim.metrics import Metrics, StartAccuracy, compute, start_accuracy
from corral.sim.rlsched import RL_POLICIES, CellResult, table_cell
from corral.sim.settings import PRESETS, SETTING_BOUNDS, SETTING_NAMES, ReplaySettings
from corral.sim.swf import TraceError, read_swf


class SimError(ValueError):
    """Bad replay request (unknown policy, preset or setting, unusable trace)."""


@dataclass(slots=True)
class Replay:
    result: SimResult
    metrics: Metrics
    settings: ReplaySettings
    trace: str
    expected_start_accuracy: StartAccuracy | None = None
    energy: EnergyReport | None = None  # with efficiency_procs (corral.sim.energy)


def make_policy(name: str, guard: dict[str, typing.Any] | None = None) -> Policy:
    """The policy called `name`; `guard`: the predictive policy's settings
    (its predictor and starvation guard, as `SchedulerConfig.predictive_settings`
    gives them), ignored by the other policies."""
    cls = POLICIES.get(name.lower())
    if cls is None:
        from corral.sched.scores import SCORES

        hint = " (a score policy: use --preset rlscheduler)" if name.lower() in SCORES else ""
        raise SimError(f"unknown policy {name!r}{hint} (choose from {', '.join(POLICIES)})")
    if guard and cls is Predictive:
        return Predictive.from_settings(guard)
    return cls()


def _choices(key: str) -> tuple[str, ...] | None:
    hint = typing.get_type_hints(ReplaySettings)[key]
    if typing.get_origin(hint) is typing.Literal:
        return tuple(str(a) for a in typing.get_args(hint))
    return None


def make_settings(preset: str, overrides: dict[str, str] | None = None) -> ReplaySettings:
    base = PRESETS.get(preset.lower())
    if base is None:
        raise SimError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    changes: dict[str, object] = {}
    for key, text in (overrides or {}).items():
        if key not in SETTING_NAMES:
            raise SimError(f"unknown setting {key!r} (known: {', '.join(SETTING_NAMES)})")
        current = getattr(base, key)
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise SimError(f"setting {key}: {text!r} is not a boolean")
            changes[key] = text.lower() in ("true", "1", "yes")
        elif isinstance(current, int | float):
            try:
                value = type(current)(text)
            except ValueError:
                kind = "a whole number" if isinstance(current, int) else "a number"
                raise SimError(f"setting {key}: {text!r} is not {kind}") from None
            bounds = SETTING_BOUNDS[key]
            problem = (
                int_problem(value, (int(bounds[0]), int(bounds[1])))
                if isinstance(value, int)
                else float_problem(value, bounds)
            )
            if problem is not None:
                raise SimError(f"setting {key}: {text!r} {problem}")
            changes[key] = value
        else:
            choices = _choices(key)
            if choices is not None and text not in choices:
                raise SimError(f"setting {key}: {text!r} is not one of {', '.join(choices)}")
            changes[key] = text
    return base.replace(**changes) if changes else base


def replay(
    trace_path: str | Path,
    policy: str | Policy = "easy",
    preset: str = "corral",
    *,
    procs: int | None = None,
    limit_jobs: int | None = None,
    overrides: dict[str, str] | None = None,
    record_timeline: bool = False,
    expected_starts: bool = False,
) -> Replay:
    settings = make_settings(preset, overrides)
    if settings.protocol != "whole":
        raise SimError(f"preset {preset!r} uses the {settings.protocol} protocol: use rl_cell")
    pol = make_policy(policy) if isinstance(policy, str) else policy
    try:
        trace = read_swf(trace_path, limit_jobs)
    except TraceError as e:
        raise SimError(str(e)) from None
    machine = procs or trace.max_procs
    if not machine or machine <= 0:
        raise SimError(f"{trace_path}: no MaxProcs/MaxNodes in the header; pass --procs")
    records = trace.records[:limit_jobs] if limit_jobs else trace.records
    jobs = jobs_from_swf(records, settings, machine)
    cores = _cores(settings, machine)
    res = simulate(
        jobs,
        machine,
        pol,
        settings,
        record_timeline=record_timeline,
        expected_starts=expected_starts,
        cores=cores,
    )
    metrics = compute(res, settings.metric_jobs == "valid")
    return Replay(res, metrics, settings, trace.name, start_accuracy(res),
                  cores.report if cores is not None else None)


def _cores(settings: ReplaySettings, machine: int) -> HybridCores | None:
    """The hybrid machine's energy model (None: efficiency_procs = 0, not modeled)."""
    if not settings.efficiency_procs:
        return None
    try:
        return HybridCores(settings, machine)
    except EnergySettingError as e:
        raise SimError(str(e)) from None


def replay_store(
    url: str,
    policy: str | Policy = "easy",
    preset: str = "corral",
    *,
    procs: int | None = None,
    overrides: dict[str, str] | None = None,
    expected_starts: bool = False,
    since: float | None = None,
    until: float | None = None,
) -> Replay:
    """Replay the finished jobs of a corral store (corral.sim.from_store): the
    preset's queue, cycle and kill settings apply; its trace-loading settings
    (processor fields, bad records) do not, the store's records being exact."""
    from corral.sim.from_store import StoreTraceError, read_store

    settings = make_settings(preset, overrides)
    if settings.protocol != "whole":
        raise SimError(f"preset {preset!r} uses the {settings.protocol} protocol")
    pol = make_policy(policy) if isinstance(policy, str) else policy
    try:
        st = read_store(url, since=since, until=until)
    except StoreTraceError as e:
        raise SimError(str(e)) from None
    machine = procs or st.procs
    if machine <= 0:
        raise SimError(f"{st.name}: no nodes in the store; pass --procs")
    if not st.jobs:
        raise SimError(f"{st.name}: no finished job to replay")
    sim_jobs = [j if j.procs <= machine else _capped(j, machine) for j in st.jobs]
    cores = _cores(settings, machine)
    res = simulate(sim_jobs, machine, pol, settings, expected_starts=expected_starts,
                   cores=cores)
    metrics = compute(res, settings.metric_jobs == "valid")
    return Replay(res, metrics, settings, st.name, start_accuracy(res),
                  cores.report if cores is not None else None)


def _capped(j: SimJob, procs: int) -> SimJob:
    return SimJob(j.job_id, j.t_submit, j.run_s, j.limit_s, procs, j.user, j.valid)


def rl_cell(
    trace_path: str | Path,
    policy: str,
    preset: str = "rlscheduler",
    *,
    overrides: dict[str, str] | None = None,
) -> CellResult:
    """One cell of RLScheduler's heuristic tables (protocol=rlscheduler):
    the mean over the windows of their bounded slowdown and utilization."""
    settings = make_settings(preset, overrides)
    if settings.protocol != "rlscheduler":
        raise SimError(f"preset {preset!r} does not use the rlscheduler protocol")
    name = policy.lower()
    if name not in RL_POLICIES:
        raise SimError(
            f"unknown policy {policy!r} for the rlscheduler protocol "
            f"(choose from {', '.join(RL_POLICIES)})"
        )
    try:
        starts = tuple(int(s) for s in settings.rl_window_starts.split(",") if s.strip())
    except ValueError:
        raise SimError(
            f"rl_window_starts: {settings.rl_window_starts!r} is not a list of indices"
        ) from None
    if not starts or settings.rl_window_jobs <= 0:
        raise SimError("rlscheduler protocol: no windows (rl_window_starts, rl_window_jobs)")
    try:
        trace = read_swf(trace_path)
        return table_cell(trace, name, settings.rl_backfill, starts, settings.rl_window_jobs)
    except (TraceError, ValueError) as e:
        raise SimError(str(e)) from None
