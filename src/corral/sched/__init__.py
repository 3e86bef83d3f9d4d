"""corral.sched: the pure scheduler core (docs/specs/03-scheduler.md).

`run_cycle(snapshot, policy, now) -> Decisions`, with no I/O, clock or logging;
the controller and the simulator call the same code.
"""

from corral.sched.cycle import extend_counts, plan_counts, run_cycle, run_cycle_counts
from corral.sched.policies import (
    EASY,
    FCFS,
    POLICIES,
    Conservative,
    EasyPlusPlus,
    Policy,
    Predictive,
)
from corral.sched.predict_model import LearnedPredictor
from corral.sched.priority import PriorityWeights
from corral.sched.request import Req
from corral.sched.types import (
    Decisions,
    Limits,
    NodeView,
    PartitionView,
    PendingInfo,
    PendingView,
    Reason,
    ReservationView,
    RunningView,
    SiteFairshare,
    SiteLimits,
    Snapshot,
    Start,
)

__all__ = [
    "EASY",
    "FCFS",
    "POLICIES",
    "Conservative",
    "Decisions",
    "EasyPlusPlus",
    "LearnedPredictor",
    "Limits",
    "NodeView",
    "PartitionView",
    "PendingInfo",
    "PendingView",
    "Policy",
    "Predictive",
    "PriorityWeights",
    "Reason",
    "Req",
    "ReservationView",
    "RunningView",
    "SiteFairshare",
    "SiteLimits",
    "Snapshot",
    "Start",
    "extend_counts",
    "plan_counts",
    "run_cycle",
    "run_cycle_counts",
]
