"""Job ids as people and tools write them: `A`, `A_I`, `A_[I-J,K]`, `A.S`, `A_I.S`.

The one parser every entry point uses (the CLI, the drop-in commands, the REST
path and query parameters). It is strict: ASCII digits only, so `57_5` is array
57's task 5 and never job 575, and ` 5`, `+5`, `5.0` or other scripts' digits are not job ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from corral.model.arrays import MAX_ARRAY_TASKS, MAX_TASK_ID
from corral.model.bounds import JOB_ID
from corral.model.errors import InvalidRequest

MAX_JOB_ID = JOB_ID[1]
NAMED_STEPS = ("batch", "extern", "interactive")
FORMS = "A, A_I, A_[I-J] or A.S"

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_REF = re.compile(r"(?P<job>[0-9]+)(?:_(?P<tasks>[0-9]+|\[[0-9,\-%]+\]))?"
                  r"(?:\.(?P<step>[0-9]+|[a-z]+))?", re.ASCII)


@dataclass(frozen=True, slots=True)
class JobRef:
    """One job id as written. `tasks` is None when no `_` part was given (the job
    itself, or a whole array); `step` is None when no `.S` part was given."""

    text: str
    job_id: int
    tasks: tuple[int, ...] | None = None
    step: str | None = None

    @property
    def step_id(self) -> int | None:
        """The step's number (None: no step, or a named one such as `batch`)."""
        return int(self.step) if self.step is not None and self.step.isdigit() else None


def _bad(field: str, text: str, why: str = "") -> InvalidRequest:
    return InvalidRequest(f"{field}: {text!r} is not a job id{why} (use {FORMS})")


def parse_job_id(text: str, field: str = "job") -> int:
    """A plain job id: ASCII digits, 1 to 2^31-1."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        raise _bad(field, str(text))
    value = int(text)
    if not 1 <= value <= MAX_JOB_ID:
        raise _bad(field, text, f" (1 to {MAX_JOB_ID})")
    return value


def _tasks(field: str, text: str, body: str) -> tuple[int, ...]:
    if not body.startswith("["):
        task = int(body)
        if task > MAX_TASK_ID:
            raise _bad(field, text, f" (task ids go to {MAX_TASK_ID})")
        return (task,)
    inner = body[1:-1].partition("%")[0]  # a %N throttle, as squeue shows it, is ignored
    ids: set[int] = set()
    for part in inner.split(","):
        lo_text, dash, hi_text = part.partition("-")
        if not _DIGITS.fullmatch(lo_text) or (dash and not _DIGITS.fullmatch(hi_text)):
            raise _bad(field, text, f" (bad task range {part!r})")
        lo, hi = int(lo_text), int(hi_text) if dash else int(lo_text)
        if hi < lo or hi > MAX_TASK_ID:
            raise _bad(field, text, f" (bad task range {part!r})")
        if len(ids) + hi - lo + 1 > MAX_ARRAY_TASKS:
            raise _bad(field, text, f" (more than {MAX_ARRAY_TASKS} tasks)")
        ids.update(range(lo, hi + 1))
    return tuple(sorted(ids))


def parse_job_ref(text: str, field: str = "job", *, tasks: bool = True,
                  steps: bool = False) -> JobRef:
    """One id in any of the forms; `tasks`/`steps` say whether those parts are allowed."""
    m = _REF.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise _bad(field, str(text))
    job_id = parse_job_id(m["job"], field)
    if m["tasks"] is not None and not tasks:
        raise _bad(field, text, " (array task ids are not taken here)")
    step = m["step"]
    if step is not None:
        if not steps:
            raise _bad(field, text, " (step ids are not taken here)")
        if not step.isdigit() and step not in NAMED_STEPS:
            raise _bad(field, text, f" (step {step!r}: a number, or {', '.join(NAMED_STEPS)})")
    found = _tasks(field, text, m["tasks"]) if m["tasks"] is not None else None
    return JobRef(text=text, job_id=job_id, tasks=found, step=step)


def split_ids(values: Iterable[str]) -> list[str]:
    """Split comma (and blank) separated id lists, keeping `A_[1,3]` whole."""
    out: list[str] = []
    for value in values:
        word, depth = "", 0
        for ch in value:
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
            if depth == 0 and (ch == "," or ch.isspace()):
                if word:
                    out.append(word)
                word = ""
                continue
            word += ch
        if word:
            out.append(word)
    return out


def parse_job_refs(values: Iterable[str], field: str = "job", *, tasks: bool = True,
                   steps: bool = False) -> list[JobRef]:
    """Every id in comma lists; the first bad one is an InvalidRequest naming it."""
    return [parse_job_ref(v, field, tasks=tasks, steps=steps) for v in split_ids(values)]


def parse_step_id(text: str, field: str = "step") -> int:
    """A step's number: ASCII digits, 0 to 2^31-1."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text) or int(text) > MAX_JOB_ID:
        raise InvalidRequest(f"{field}: {text!r} is not a step id (0 to {MAX_JOB_ID})")
    return int(text)
