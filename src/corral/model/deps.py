"""Job dependencies, in Slurm's syntax: `afterok:12:13,afterany:14_2`, `singleton`.

A comma means "all of". Targets are job ids, array task ids `A_i`, or whole arrays
`A` (every task). Evaluation is pure: given what is known of each target, a
dependency is satisfied, not yet satisfied, or never satisfiable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from corral.model.bounds import JOB_ID, shown
from corral.model.errors import InvalidRequest
from corral.model.jobid import parse_job_ref
from corral.model.states import FINAL_JOB_STATES as _FINAL


class DepKind(StrEnum):
    AFTER = "after"  # the target has started (or ended)
    AFTERANY = "afterany"  # the target has ended, however
    AFTEROK = "afterok"  # the target completed with exit code 0
    AFTERNOTOK = "afternotok"  # the target ended in any other way
    SINGLETON = "singleton"  # no earlier job of the same name and user is unfinished


@dataclass(frozen=True, slots=True)
class Target:
    job_id: int  # a job id, or an array's id
    task_id: int | None = None  # a task of that array

    def __str__(self) -> str:
        return f"{self.job_id}_{self.task_id}" if self.task_id is not None else str(self.job_id)


@dataclass(frozen=True, slots=True)
class Dependency:
    kind: DepKind
    targets: tuple[Target, ...]


class DepStatus(StrEnum):
    SATISFIED = "satisfied"
    WAITING = "waiting"
    NEVER = "never"


def _target(text: str, whole: str) -> Target:
    try:
        ref = parse_job_ref(text.strip())
    except InvalidRequest:
        ref = None
    if ref is None or (ref.tasks is not None and len(ref.tasks) != 1):
        job = text.strip().partition("_")[0]
        too_big = job.isascii() and job.isdigit() and int(job[:12]) > JOB_ID[1]
        why = f"is over the maximum of {JOB_ID[1]}" if too_big else "is not a job id"
        raise InvalidRequest(f"dependency: {shown(text)} in {shown(whole)} {why}")
    return Target(ref.job_id, ref.tasks[0] if ref.tasks is not None else None)


def parse_dependency(text: str) -> tuple[Dependency, ...]:
    whole = text.strip()
    if not whole:
        return ()
    if "?" in whole:
        raise InvalidRequest(f"dependency: {whole!r}: '?' (any of) is not supported; use ','")
    out: list[Dependency] = []
    for item in whole.split(","):
        name, _, rest = item.partition(":")
        try:
            kind = DepKind(name.strip().lower())
        except ValueError:
            kinds = ", ".join(k.value for k in DepKind)
            raise InvalidRequest(
                f"dependency: {name!r} in {whole!r} is not a dependency type (have: {kinds})"
            ) from None
        if kind == DepKind.SINGLETON:
            if rest:
                raise InvalidRequest(f"dependency: singleton takes no job ids ({whole!r})")
            out.append(Dependency(kind, ()))
            continue
        ids = [p for p in rest.split(":") if p]
        if not ids:
            raise InvalidRequest(f"dependency: {name!r} needs job ids ({whole!r})")
        out.append(Dependency(kind, tuple(_target(p, whole) for p in ids)))
    return tuple(out)


# What is known of one target job: its state name and whether it ever started.
TargetFacts = tuple[str, bool]



def evaluate_one(kind: DepKind, facts: TargetFacts) -> DepStatus:
    state, started = facts
    final = state in _FINAL
    if kind == DepKind.AFTER:
        return DepStatus.SATISFIED if started or final else DepStatus.WAITING
    if not final:
        return DepStatus.WAITING
    if kind == DepKind.AFTERANY:
        return DepStatus.SATISFIED
    ok = state == "COMPLETED"
    if kind == DepKind.AFTEROK:
        return DepStatus.SATISFIED if ok else DepStatus.NEVER
    return DepStatus.SATISFIED if not ok else DepStatus.NEVER  # AFTERNOTOK


def combine(statuses: list[DepStatus]) -> DepStatus:
    if DepStatus.NEVER in statuses:
        return DepStatus.NEVER
    if DepStatus.WAITING in statuses:
        return DepStatus.WAITING
    return DepStatus.SATISFIED
