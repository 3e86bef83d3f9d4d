"""Replay settings: every choice published simulators disagree on, named.

See /shared/traces/SEMANTICS.md and docs/sim.md. A preset is a named set of
values that reproduces one tool's results.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

ProcsField = Literal["allocated", "requested", "requested_else_allocated", "max"]
BadRecords = Literal["one_second", "drop", "keep", "rlscheduler"]
TieOrder = Literal["arrivals_first", "terminations_first"]
Cycle = Literal["per_event", "per_timestamp"]
Protocol = Literal["whole", "rlscheduler"]
QueueOrder = Literal["arrival", "priority"]

RL_WINDOW_STARTS = "1981,2756,4299,8850,3316,2714,5228,7762,4022,7085"


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    # Which SWF field gives a job's processors: 5 (allocated), 8 (requested),
    # 8 else 5, or the larger of the two.
    procs_field: ProcsField = "requested_else_allocated"
    # Jobs asking for more processors than the machine has: cap them (True)
    # or drop them (False).
    cap_procs: bool = True
    # A job running longer than its requested time is killed at it (True) or
    # runs to completion (False).
    kill_at_limit: bool = True
    # For a job whose trace runtime exceeds its requested time, the estimate
    # the scheduler plans with: the request ("request"), or the trace runtime
    # ("runtime": pyss swaps the two, running min(run, request) and planning
    # with max(run, request)).
    overrun_estimate: Literal["request", "runtime"] = "request"
    # Records with runtime <= 0 or processors <= 0: "one_second" (pyss: runtime
    # and estimate become 1 s, processors at least 1), "drop", "keep" (as is,
    # runtime clipped at 0, processors at least 1), "rlscheduler" (runtime 0
    # dropped, runtime < 0 becomes 10 s).
    bad_records: BadRecords = "drop"
    # Missing requested time (-1): use the runtime as the estimate (True) or
    # run unlimited (False).
    missing_limit_is_runtime: bool = True
    # Events at the same time: arrivals handled before terminations, or after.
    tie_order: TieOrder = "terminations_first"
    # EASY++: a running job reaching its predicted end at the same time as
    # other events is re-planned with its limit before them ("first", pyss
    # orders that event before arrivals and terminations) or after them
    # ("last").
    prediction_over: Literal["first", "last"] = "last"
    # One scheduling cycle after every event (pyss) or one per distinct
    # timestamp once all its events are applied.
    cycle: Cycle = "per_timestamp"
    # A running job whose planned end is now counts as gone for planning even
    # if its termination event at the same time is not handled yet (pyss's
    # availability profile behaves this way).
    limit_end_frees: bool = False
    # What waiting jobs are planned with (reservations, backfill tests):
    # their requested time ("estimate"), or their actual runtime ("runtime",
    # CQSim: perfect knowledge for queued jobs, while running jobs stay planned
    # to end at start + request).
    queued_plan: Literal["estimate", "runtime"] = "estimate"
    # Conservative backfilling: "replan" the whole queue from scratch at every
    # cycle (as the controller does; CQSim), or "keep" the plan: a job's
    # reservation is made when it arrives and only moves earlier, when a job
    # ends before its planned end and the plan is compressed in queue order
    # (pyss; corral.sched.kept_plan). "keep" needs kill_at_limit and
    # queue_order=arrival (otherwise the replay re-plans).
    conservative_plan: Literal["replan", "keep"] = "replan"
    # With conservative_plan=keep, which terminations compress the plan:
    # "early_ends" (a job that ended before its planned end) or "all_ends"
    # (pyss: every termination; jobs that moved in the previous compression
    # may have freed room for jobs before them in the queue).
    compress_after: Literal["early_ends", "all_ends"] = "early_ends"
    # Jobs averaged in the metrics: "valid" (runtime > 0 and processors > 0
    # in the trace) or "all".
    metric_jobs: Literal["valid", "all"] = "valid"
    # Order of the queue handed to the policy: arrival (submit time, then trace
    # order), or multifactor priority (corral.sched.priority: age and
    # fair-share factors, weights below; ties by submit time, then job id).
    queue_order: QueueOrder = "arrival"
    # Multifactor weights and fair-share decay used when queue_order=priority.
    # Usage is each user's processor-seconds, accrued while jobs run and
    # decayed exponentially with this half-life; every user has an equal share.
    prio_age: float = 1000.0
    prio_fairshare: float = 0.0
    prio_max_age_s: float = 7 * 24 * 3600.0
    fs_half_life_s: float = 7 * 24 * 3600.0
    # "whole": replay the whole trace through the core (the policies of
    # corral.sched). "rlscheduler": RLScheduler's test protocol (corral.sim.rlsched):
    # windows of rl_window_jobs jobs starting at the rl_window_starts indices,
    # score-sorted queue (fcfs, sjf, wfp3, unicep, f1), optional rl_backfill.
    protocol: Protocol = "whole"
    # Hybrid CPUs (corral.sim.energy): this many of the processors are efficiency
    # cores (0: energy not modeled), drawing e_watts busy against p_watts for a
    # performance core and doing e_speed of its work per second (a job on any
    # efficiency core runs 1/e_speed times longer, killed at its limit if
    # kill_at_limit). energy_aware: low-priority jobs (low_priority: "all",
    # "queue:N" the trace's queue N, "longer:S" jobs asking at least S seconds)
    # take efficiency cores first; otherwise every job takes performance first.
    efficiency_procs: int = 0
    p_watts: float = 12.0
    e_watts: float = 4.0
    e_speed: float = 0.6
    energy_aware: bool = False
    low_priority: str = "all"
    rl_backfill: bool = False
    rl_window_jobs: int = 1024
    rl_window_starts: str = RL_WINDOW_STARTS

    def replace(self, **changes: object) -> ReplaySettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


# The largest machine a replay takes (processors): beyond any built yet.
MAX_PROCS = 100_000_000

# The range (inclusive) of each numeric setting; a value outside it, NaN or
# infinite is refused (a replay with it would give NaN figures or never end).
SETTING_BOUNDS: dict[str, tuple[float, float]] = {
    "prio_age": (0.0, 1e12),
    "prio_fairshare": (0.0, 1e12),
    "prio_max_age_s": (1.0, 3.2e9),  # up to a century
    "fs_half_life_s": (1.0, 3.2e9),
    "efficiency_procs": (0, MAX_PROCS),
    "p_watts": (0.0, 1e6),
    "e_watts": (0.0, 1e6),
    "e_speed": (0.01, 1.0),  # an efficiency core's speed, a performance core's = 1
    "rl_window_jobs": (1, 1_000_000),
}


PRESETS: dict[str, ReplaySettings] = {
    # corral's own defaults: what a real cluster does.
    "corral": ReplaySettings(),
    # pyss (HUJI), the simulator of the EASY++ paper.
    "pyss": ReplaySettings(
        procs_field="allocated",
        cap_procs=True,
        kill_at_limit=True,
        overrun_estimate="runtime",
        bad_records="one_second",
        missing_limit_is_runtime=True,
        tie_order="arrivals_first",
        prediction_over="first",
        cycle="per_event",
        limit_end_frees=True,
        conservative_plan="keep",
        compress_after="all_ends",
        metric_jobs="valid",
    ),
    # CQSim (SPEAR-UIC), its default configuration.
    "cqsim": ReplaySettings(
        procs_field="requested",
        cap_procs=True,
        kill_at_limit=True,
        overrun_estimate="request",
        bad_records="drop",
        missing_limit_is_runtime=True,
        tie_order="terminations_first",
        cycle="per_event",
        limit_end_frees=False,
        queued_plan="runtime",
        metric_jobs="valid",
    ),
    # RLScheduler (SC'20): the protocol of its heuristic tables (SEMANTICS.md).
    # The loading fields document its choices; the windowed replay applies them.
    "rlscheduler": ReplaySettings(
        procs_field="max",
        cap_procs=True,
        kill_at_limit=False,
        overrun_estimate="request",
        bad_records="rlscheduler",
        missing_limit_is_runtime=True,
        tie_order="arrivals_first",
        cycle="per_event",
        metric_jobs="all",
        protocol="rlscheduler",
    ),
}

SETTING_NAMES = tuple(f.name for f in dataclasses.fields(ReplaySettings))
