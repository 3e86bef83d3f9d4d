"""corral.sim: replay workload traces (SWF) through the scheduler core (docs/sim.md).

Names are imported lazily so that registering the `sim` command in the main
CLI costs next to nothing at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PRESETS": "corral.sim.settings",
    "ReplaySettings": "corral.sim.settings",
    "Metrics": "corral.sim.metrics",
    "compute": "corral.sim.metrics",
    "Replay": "corral.sim.run",
    "SimError": "corral.sim.run",
    "replay": "corral.sim.run",
    "rl_cell": "corral.sim.run",
    "CellResult": "corral.sim.rlsched",
    "table_cell": "corral.sim.rlsched",
    "SimJob": "corral.sim.jobs",
    "jobs_from_swf": "corral.sim.jobs",
    "SimResult": "corral.sim.engine",
    "simulate": "corral.sim.engine",
    "Trace": "corral.sim.swf",
    "TraceError": "corral.sim.swf",
    "read_swf": "corral.sim.swf",
}

__all__ = [  # noqa: RUF022 (grouped as in _EXPORTS)
    "PRESETS",
    "ReplaySettings",
    "Metrics",
    "compute",
    "Replay",
    "SimError",
    "replay",
    "rl_cell",
    "CellResult",
    "table_cell",
    "SimJob",
    "jobs_from_swf",
    "SimResult",
    "simulate",
    "Trace",
    "TraceError",
    "read_swf",
]


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'corral.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)
