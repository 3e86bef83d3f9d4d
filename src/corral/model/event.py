"""The bookkeeping record: one event per state change (docs/specs/01-job-states.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    SUBMIT = "submit"
    STATE = "state"  # a move in the job state table
    REQUEUE = "requeue"
    UPDATE = "update"
    HOLD = "hold"
    RELEASE = "release"
    SIGNAL = "signal"
    NODE = "node"  # node registration / state facts
    STEP = "step"  # a job step started or ended (data: step_id, action, ...)
    CREDENTIAL = "credential"  # the job's credential: its renewal stopped (data: reason)


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    job_id: int | None
    t: float
    kind: EventKind
    from_state: str | None = None
    to_state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "job_id": self.job_id,
            "t": self.t,
            "kind": str(self.kind),
            "from_state": self.from_state,
            "to_state": self.to_state,
            "data": self.data,
        }
