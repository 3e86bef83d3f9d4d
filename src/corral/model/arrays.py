"""Job array specifications: `0-99`, `1,3,5-9:2`, with an optional `%N` throttle."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from corral.model.errors import InvalidRequest

MAX_ARRAY_TASKS = 100_000
MAX_TASK_ID = 4_000_000


@dataclass(frozen=True, slots=True)
class ArraySpec:
    text: str
    task_ids: tuple[int, ...]
    throttle: int | None  # at most this many tasks running at once

    @property
    def step(self) -> int:
        """The common step of the ids (1 when there is none)."""
        ids = self.task_ids
        if len(ids) < 2:
            return 1
        steps = {b - a for a, b in itertools.pairwise(ids)}
        return steps.pop() if len(steps) == 1 else 1


def _bad(text: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"array: {text!r} {why} (use e.g. 0-99, 1,3,5-9:2, 0-9%2)")


def parse_array(text: str) -> ArraySpec:
    body, _, throttle_text = text.strip().partition("%")
    throttle: int | None = None
    if throttle_text:
        if not throttle_text.isdigit() or int(throttle_text) < 1:
            raise _bad(text, "has a bad %N throttle")
        throttle = int(throttle_text)
    ids: set[int] = set()
    for part in body.split(","):
        if not part:
            raise _bad(text, "has an empty item")
        rng, _, step_text = part.partition(":")
        lo_text, dash, hi_text = rng.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if dash else lo
            step = int(step_text) if step_text else 1
        except ValueError:
            raise _bad(text, "is not a list of ranges") from None
        if lo < 0 or hi < lo or step < 1:
            raise _bad(text, f"has a bad range {part!r}")
        if hi > MAX_TASK_ID:
            raise _bad(text, f"has task id {hi}, over the limit of {MAX_TASK_ID}")
        count = (hi - lo) // step + 1
        if len(ids) + count > MAX_ARRAY_TASKS:
            raise _bad(text, f"has more than {MAX_ARRAY_TASKS} tasks")
        ids.update(range(lo, hi + 1, step))
    return ArraySpec(text=text.strip(), task_ids=tuple(sorted(ids)), throttle=throttle)
