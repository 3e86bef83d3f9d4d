"""corral.sim: replay workload traces (SWF) through the scheduler core (docs/sim.md)."""

from corral.sim.engine import SimResult, simulate
from corral.sim.jobs import SimJob, jobs_from_swf
from corral.sim.metrics import Metrics, compute
from corral.sim.run import Replay, SimError, replay
from corral.sim.settings import PRESETS, ReplaySettings
from corral.sim.swf import Trace, TraceError, read_swf

__all__ = [
    "PRESETS",
    "Metrics",
    "Replay",
    "ReplaySettings",
    "SimError",
    "SimJob",
    "SimResult",
    "Trace",
    "TraceError",
    "compute",
    "jobs_from_swf",
    "read_swf",
    "replay",
    "simulate",
]
