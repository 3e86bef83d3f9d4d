"""Energy on hybrid CPUs in a replay (`corral sim --set efficiency_procs=N`).

The machine's processors are performance cores and `efficiency_procs` efficiency
cores. A started job takes its processors from the two pools: performance cores
first, or, with `energy_aware`, efficiency cores first when it is low-priority work
(`low_priority`). A job with any efficiency core runs at their speed (`e_speed` of
a performance core's work per second: its runtime is divided by it), killed at
its time limit when the replay kills there; every processor it holds draws its
busy power (`p_watts`, `e_watts`) until it ends. Idle power is left out (the same
under both placements). The scheduler core still counts processors alone: it
plans with the requested times, as the controller does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from corral.sim.jobs import SimJob
from corral.sim.settings import ReplaySettings


class EnergySettingError(ValueError):
    """A low_priority rule or core counts that do not make sense."""


def low_priority_rule(text: str) -> Callable[[SimJob], bool]:
    """'all' | 'queue:N' | 'longer:S' -> which jobs are low-priority work."""
    kind, _, value = text.partition(":")
    if kind == "all" and not value:
        return lambda j: True
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if kind == "queue" and number >= 0 and number == int(number):
        return lambda j: j.queue == int(number)
    if kind == "longer" and number >= 0:
        return lambda j: j.limit_s >= number
    raise EnergySettingError(f"setting low_priority: {text!r} is not all, queue:N or longer:S")


@dataclass(slots=True)
class EnergyReport:
    energy_kwh: float = 0.0
    jobs_on_efficiency: int = 0  # jobs given at least one efficiency core
    killed_slowed: int = 0  # jobs an efficiency core made reach their time limit
    efficiency_share: float = 0.0  # of the processor-seconds, on efficiency cores

    def to_dict(self) -> dict[str, float | int]:
        return {"energy_kwh": round(self.energy_kwh, 3),
                "jobs_on_efficiency": self.jobs_on_efficiency,
                "killed_slowed": self.killed_slowed,
                "efficiency_share": round(self.efficiency_share, 4)}


@dataclass(slots=True)
class HybridCores:
    settings: ReplaySettings
    procs_total: int
    low: Callable[[SimJob], bool] = field(init=False)
    free_p: int = field(init=False)
    free_e: int = field(init=False)
    held: dict[int, tuple[int, int]] = field(default_factory=dict)
    report: EnergyReport = field(default_factory=EnergyReport)
    _proc_s: float = 0.0
    _e_proc_s: float = 0.0

    def __post_init__(self) -> None:
        s = self.settings
        if not 0 < s.efficiency_procs <= self.procs_total:
            raise EnergySettingError(f"setting efficiency_procs: {s.efficiency_procs} is not "
                                     f"1-{self.procs_total} (the machine's processors)")
        if not 0 < s.e_speed <= 1 or s.p_watts < 0 or s.e_watts < 0:
            raise EnergySettingError("settings e_speed (0-1], p_watts, e_watts (>= 0): "
                                     f"{s.e_speed}, {s.p_watts}, {s.e_watts}")
        self.low = low_priority_rule(s.low_priority)
        self.free_e = s.efficiency_procs
        self.free_p = self.procs_total - s.efficiency_procs

    def start(self, i: int, job: SimJob) -> float:
        """Place job i (it takes its processors now); -> how long it runs."""
        s = self.settings
        if s.energy_aware and self.low(job):
            e = min(job.procs, self.free_e)
            p = job.procs - e
        else:
            p = min(job.procs, self.free_p)
            e = job.procs - p
        self.free_p -= p
        self.free_e -= e
        self.held[i] = (p, e)
        run = job.run_s
        if e:
            run = job.run_s / s.e_speed
            self.report.jobs_on_efficiency += 1
            if s.kill_at_limit and run > job.limit_s >= job.run_s:
                run = job.limit_s
                self.report.killed_slowed += 1
        self.report.energy_kwh += (p * s.p_watts + e * s.e_watts) * run / 3.6e6
        self._proc_s += job.procs * run
        self._e_proc_s += e * run
        self.report.efficiency_share = self._e_proc_s / self._proc_s if self._proc_s else 0.0
        return run

    def end(self, i: int) -> None:
        p, e = self.held.pop(i)
        self.free_p += p
        self.free_e += e
