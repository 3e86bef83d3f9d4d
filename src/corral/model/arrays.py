"""Job array specifications: `0-99`, `1,3,5-9:2`, with an optional `%N` throttle."""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corral.model.bounds import shown
from corral.model.errors import InvalidRequest

if TYPE_CHECKING:  # (the CLI parses job ids without the job records' module)
    from corral.model.job import Job

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
    return InvalidRequest(f"array: {shown(text)} {why} (use e.g. 0-99, 1,3,5-9:2, 0-9%2)")


def parse_array(text: str) -> ArraySpec:
    body, _, throttle_text = text.strip().partition("%")
    throttle: int | None = None
    if throttle_text:
        if (not throttle_text.isascii() or not throttle_text.isdigit()
                or len(throttle_text) > 9 or not 1 <= int(throttle_text) <= MAX_ARRAY_TASKS):
            raise _bad(text, f"has a bad %N throttle (1 to {MAX_ARRAY_TASKS})")
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
            raise _bad(text, f"has a bad range {shown(part)}")
        if hi > MAX_TASK_ID:
            raise _bad(text, f"has task id {shown(hi)}, over the limit of {MAX_TASK_ID}")
        count = (hi - lo) // step + 1
        if len(ids) + count > MAX_ARRAY_TASKS:
            raise _bad(text, f"has more than {MAX_ARRAY_TASKS} tasks")
        ids.update(range(lo, hi + 1, step))
    return ArraySpec(text=text.strip(), task_ids=tuple(sorted(ids)), throttle=throttle)


@functools.lru_cache(maxsize=8)  # each up to MAX_ARRAY_TASKS ids (a few MB)
def parse_array_cached(text: str) -> ArraySpec:
    """parse_array, remembered: an array's tasks all carry the same text."""
    return parse_array(text)


@functools.lru_cache(maxsize=256)
def array_facts(text: str) -> tuple[int, int, int, int]:
    """(lowest task id, highest, count, step) of an array text, worked out once."""
    arr = parse_array_cached(text)
    return arr.task_ids[0], arr.task_ids[-1], len(arr.task_ids), arr.step


def array_throttle(text: str) -> int | None:
    """The %N throttle of an array text, without expanding its ranges."""
    _, _, throttle_text = text.strip().partition("%")
    return int(throttle_text) if throttle_text.isdigit() and int(throttle_text) > 0 else None


def format_task_ids(ids: Iterable[int]) -> str:
    """Sorted task ids as Slurm shows them: `1-5`, `0-98:2`, `1,4,7-9`."""
    out: list[str] = []
    run: list[int] = []

    def flush() -> None:
        if len(run) >= 3 or (len(run) == 2 and run[1] - run[0] == 1):
            step = run[1] - run[0]
            out.append(f"{run[0]}-{run[-1]}" + (f":{step}" if step > 1 else ""))
        else:
            out.extend(str(i) for i in run)
        run.clear()

    for i in ids:
        if len(run) >= 2 and i - run[-1] != run[1] - run[0]:
            if len(run) == 2 and run[1] - run[0] != 1:
                out.append(str(run.pop(0)))  # the second may start a better run
            else:
                flush()
        run.append(i)
    flush()
    return ",".join(out)


class TaskSet:
    """The pending task indices of an array (0 .. n-1 into its sorted task ids), kept
    as sorted disjoint half-open intervals: tasks leave mostly from the front, so an
    array of any size is a handful of intervals."""

    __slots__ = ("_count", "_spans")

    def __init__(self, n: int = 0, taken: Iterable[int] = ()) -> None:
        self._spans: list[list[int]] = [[0, n]] if n > 0 else []
        self._count = n
        for i in sorted(set(taken)):
            self.discard(i)

    def __len__(self) -> int:
        return self._count

    def _find(self, i: int) -> int:
        """Index of the span that would hold i (-1: none)."""
        k = bisect.bisect_right(self._spans, [i, _INF]) - 1
        return k if k >= 0 and self._spans[k][0] <= i < self._spans[k][1] else -1

    def __contains__(self, i: object) -> bool:
        return isinstance(i, int) and self._find(i) >= 0

    def discard(self, i: int) -> bool:
        k = self._find(i)
        if k < 0:
            return False
        lo, hi = self._spans[k]
        if hi - lo == 1:
            del self._spans[k]
        elif i == lo:
            self._spans[k][0] = lo + 1
        elif i == hi - 1:
            self._spans[k][1] = hi - 1
        else:
            self._spans[k][1] = i
            self._spans.insert(k + 1, [i + 1, hi])
        self._count -= 1
        return True

    def clear(self) -> None:
        self._spans.clear()
        self._count = 0

    def first(self, k: int) -> list[int]:
        """The k lowest pending indices."""
        out: list[int] = []
        for lo, hi in self._spans:
            if len(out) >= k:
                break
            out.extend(range(lo, min(hi, lo + k - len(out))))
        return out

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self._spans:
            yield from range(lo, hi)

    def spans(self) -> list[tuple[int, int]]:
        return [(lo, hi) for lo, hi in self._spans]


_INF = 1 << 62


def task_job_id(array_id: int, n: int, index: int) -> int:
    """The job id of the task at `index` (0 .. n-1, in task order) of an array whose
    ids are `array_id` .. `array_id + n - 1`. As in Slurm, where each task split off
    the pending array record gets the next id and the last task keeps the record (and
    its id): the first task is `array_id + 1`, ..., the last task is `array_id`."""
    return array_id + (index + 1) % n if n > 0 else array_id


def listing_order(entry: dict[str, Any]) -> tuple[int, int]:
    """Listings' order: by job, an array's tasks together in task order (its pending
    rest after its started tasks), whatever ids the tasks have."""
    array_id = entry.get("array_job_id")
    if array_id is None:
        return (int(entry["id"]), -1)
    task = entry.get("array_task_id")
    return (int(array_id), int(task) if task is not None else _INF)


def task_index(array_id: int, n: int, job_id: int) -> int | None:
    """The index of the task whose job id this is (the inverse of task_job_id)."""
    i = job_id - array_id
    return (i - 1) % n if 0 <= i < n else None


class ArrayRest:
    """The pending rest of a job array: one record for the tasks not yet started.

    Job ids are reserved for every task at submit (`task_job_id`: the array's id is
    its last task's, as in Slurm); a task becomes a job record of its own only when
    it leaves the rest (it starts, or is held, cancelled or changed on its own).
    `template` is that record, less the task: every task of the rest shares its
    state, reason and priority.
    """

    __slots__ = ("_text", "array", "pending", "step", "template")

    def __init__(self, template: Job, taken: Iterable[int] = ()) -> None:
        assert template.spec.array is not None
        self.template = template
        self.array = parse_array_cached(template.spec.array)
        self.step = self.array.step
        self.pending = TaskSet(len(self.array.task_ids), taken)
        self._text: str | None = None

    @property
    def id(self) -> int:
        return self.template.id

    @property
    def throttle(self) -> int | None:
        return self.array.throttle

    def job_id(self, index: int) -> int:
        return task_job_id(self.template.id, len(self.array.task_ids), index)

    def index_of(self, job_id: int) -> int | None:
        """The task index of a job id of this array still in the rest."""
        i = task_index(self.template.id, len(self.array.task_ids), job_id)
        return i if i is not None and i in self.pending else None

    def first_ids(self, k: int) -> list[int]:
        return [self.job_id(i) for i in self.pending.first(k)]

    def take(self, index: int) -> Job:
        """Take a task out of the rest as a job record of its own (same state)."""
        if not self.pending.discard(index):
            raise KeyError(index)
        self._text = None
        return dataclasses.replace(self.template, id=self.job_id(index),
                                   array_job_id=self.template.id,
                                   array_task_id=self.array.task_ids[index],
                                   priority_factors=None, live_usage=None)

    def view(self, index: int) -> Job:
        """A pending task as a job (not taken out: a read)."""
        return dataclasses.replace(self.template, id=self.job_id(index),
                                   array_job_id=self.template.id,
                                   array_task_id=self.array.task_ids[index])

    def changed(self) -> None:
        self._text = None

    def pending_text(self) -> str:
        """The pending task ids, compressed (`5-99999`, `1-9:2`)."""
        if self._text is None:
            ids = self.array.task_ids
            if self.step > 1 or _consecutive(ids):
                parts = []
                for lo, hi in self.pending.spans():
                    a, b = ids[lo], ids[hi - 1]
                    parts.append(format_task_ids([a]) if a == b else
                                 format_task_ids(range(a, b + 1, self.step)))
                self._text = ",".join(parts)
            else:
                self._text = format_task_ids(ids[i] for i in self.pending)
        return self._text

    @property
    def display_id(self) -> str:
        throttle = f"%{self.throttle}" if self.throttle else ""
        return f"{self.template.id}_[{self.pending_text()}{throttle}]"

    def to_dict(self) -> dict[str, Any]:
        """The rest as one listing entry: a job whose id is the array's (in Slurm, the
        pending array record keeps the array's id)."""
        d = self.template.to_dict()
        d.update(id=self.template.id,
                 display_id=self.display_id, array_job_id=self.template.id,
                 array_task_id=None, array_pending=self.pending_text(),
                 array_pending_count=len(self.pending), array_throttle=self.throttle)
        return d


def _consecutive(ids: tuple[int, ...]) -> bool:
    return not ids or ids[-1] - ids[0] == len(ids) - 1


def expand_rest(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A listing's rest entry as one entry per pending task (what `squeue -r` shows),
    made by the client: it costs the controller nothing."""
    text = entry.get("array_pending")
    spec = entry.get("array_spec")
    if not text or not spec or entry.get("array_job_id") is None:
        return [entry]
    base = int(entry["array_job_id"])
    all_ids = parse_array_cached(spec).task_ids
    index = {t: i for i, t in enumerate(all_ids)}
    out = []
    for t in parse_array_cached(text).task_ids:
        d = dict(entry)
        d.update(id=task_job_id(base, len(all_ids), index[t]), array_task_id=t,
                 display_id=f"{base}_{t}")
        for key in ("array_pending", "array_pending_count", "array_throttle"):
            d.pop(key, None)
        out.append(d)
    return out
