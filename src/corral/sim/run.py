"""One replay from a trace path: load, apply settings, simulate, measure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corral.sched import POLICIES, Policy
from corral.sim.engine import SimResult, simulate
from corral.sim.jobs import jobs_from_swf
from corral.sim.metrics import Metrics, compute
from corral.sim.settings import PRESETS, SETTING_NAMES, ReplaySettings
from corral.sim.swf import TraceError, read_swf


class SimError(ValueError):
    """Bad replay request (unknown policy, preset or setting, unusable trace)."""


@dataclass(slots=True)
class Replay:
    result: SimResult
    metrics: Metrics
    settings: ReplaySettings
    trace: str


def make_policy(name: str) -> Policy:
    cls = POLICIES.get(name.lower())
    if cls is None:
        raise SimError(f"unknown policy {name!r} (choose from {', '.join(POLICIES)})")
    return cls()


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
        else:
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
) -> Replay:
    pol = make_policy(policy) if isinstance(policy, str) else policy
    settings = make_settings(preset, overrides)
    try:
        trace = read_swf(trace_path, limit_jobs)
    except TraceError as e:
        raise SimError(str(e)) from None
    machine = procs or trace.max_procs
    if not machine or machine <= 0:
        raise SimError(f"{trace_path}: no MaxProcs/MaxNodes in the header; pass --procs")
    records = trace.records[:limit_jobs] if limit_jobs else trace.records
    jobs = jobs_from_swf(records, settings, machine)
    res = simulate(jobs, machine, pol, settings, record_timeline=record_timeline)
    return Replay(res, compute(res, settings.metric_jobs == "valid"), settings, trace.name)
