"""What the controller knows of dependency targets, and each waiting job's status.

Unfinished jobs are always in memory. Jobs that ended long ago leave memory; what
a dependency needs of them (final state, whether they started) is kept in
`ended`, filled when they leave and, after a restart, from the store.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from corral.model.arrays import ArrayRest
from corral.model.deps import (
    Dependency,
    DepKind,
    DepStatus,
    Target,
    TargetFacts,
    combine,
    evaluate_one,
    parse_dependency,
)
from corral.model.errors import CorralError
from corral.model.job import Job
from corral.store import arrays as store_arrays
from corral.store import jobs as store_jobs

if TYPE_CHECKING:
    from corral.services.controller import Controller


def facts_of(job: Job) -> TargetFacts:
    return (str(job.state), job.t_start is not None or job.state.is_active)


class Dependencies:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.ended: dict[int, TargetFacts] = {}
        self.ended_tasks: dict[tuple[int, int], TargetFacts] = {}  # (array id, task id)
        self.array_tasks: dict[int, list[int]] = {}  # array id -> its tasks' job ids
        # (those out of the array's pending rest; ctl.arrays holds the rest itself)
        self.ended_rests: dict[int, TargetFacts] = {}  # array id -> its rest's end

    def add_array(self, array_id: int, ids: Iterable[int]) -> None:
        self.array_tasks.setdefault(array_id, []).extend(ids)

    def rest_ended(self, rest: ArrayRest) -> None:
        self.ended_rests[rest.id] = facts_of(rest.template)

    def _rest_facts(self, array_id: int, task_id: int | None) -> TargetFacts | None:
        """What a target (a whole array: task_id None) finds in the array's rest."""
        rest = self.ctl.arrays.rests.get(array_id)
        if rest is not None:
            if task_id is None:
                return facts_of(rest.template)
            ids = rest.array.task_ids
            i = bisect.bisect_left(ids, task_id)
            if i < len(ids) and ids[i] == task_id and i in rest.pending:
                return facts_of(rest.template)
            return None
        return self.ended_rests.get(array_id)

    def forget(self, job: Job) -> None:
        """The job leaves memory: keep what dependencies need of it."""
        self._remember(job)

    def _remember(self, job: Job) -> None:
        self.ended[job.id] = facts_of(job)
        if job.array_job_id is not None and job.array_task_id is not None:
            self.ended_tasks[(job.array_job_id, job.array_task_id)] = facts_of(job)

    def _facts(self, job_id: int) -> TargetFacts | None:
        job = self.ctl.jobs.get(job_id)
        if job is not None:
            return facts_of(job)
        return self.ended.get(job_id)

    def target_facts(self, target: Target) -> list[TargetFacts] | None:
        """Facts of every job a target names; None when it names none."""
        if target.task_id is not None:
            for job_id in self.array_tasks.get(target.job_id, ()):
                job = self.ctl.jobs.get(job_id)
                if job is not None and job.array_task_id == target.task_id:
                    return [facts_of(job)]
            found = (self.ended_tasks.get((target.job_id, target.task_id))
                     or self._rest_facts(target.job_id, target.task_id))
            return [found] if found else None
        tasks = self.array_tasks.get(target.job_id)
        rest = self._rest_facts(target.job_id, None)
        if tasks or rest:
            out = [f for f in (self._facts(i) for i in tasks or ()) if f is not None]
            out += [rest] if rest else []
            return out or None
        one = self._facts(target.job_id)
        return [one] if one is not None else None

    def status(self, job: Job) -> DepStatus:
        if not job.spec.dependency:
            return DepStatus.SATISFIED
        statuses: list[DepStatus] = []
        for dep in parse_dependency(job.spec.dependency):
            if dep.kind == DepKind.SINGLETON:
                statuses.append(self._singleton(job))
                continue
            for target in dep.targets:
                facts = self.target_facts(target)
                if facts is None:
                    statuses.append(DepStatus.NEVER)
                    continue
                statuses.extend(evaluate_one(dep.kind, f) for f in facts)
        return combine(statuses)

    def _singleton(self, job: Job) -> DepStatus:
        for other in self.ctl.jobs.values():
            if (other.id < job.id and other.user == job.user and other.spec.name == job.spec.name
                    and not other.state.is_final):
                return DepStatus.WAITING
        return DepStatus.SATISFIED

    # ---- loading what memory lacks ------------------------------------------------
    def missing(self, deps: Iterable[Dependency]) -> set[int]:
        ids: set[int] = set()
        for dep in deps:
            for t in dep.targets:
                if self.target_facts(t) is None:
                    ids.add(t.job_id)
        return ids

    def load(self, conn: Connection, ids: set[int]) -> None:
        """Fetch jobs (and arrays) named by dependencies from the store."""
        if not ids:
            return
        found = store_jobs.query_jobs(conn, ids=ids) + store_jobs.query_jobs(
            conn, array_job_ids=ids)
        for tmpl in store_arrays.query_arrays(conn, ids=sorted(ids)):
            if tmpl.id not in self.ctl.arrays.rests and tmpl.state.is_final:
                self.ended_rests[tmpl.id] = facts_of(tmpl)
        for job in found:
            if job.id in self.ctl.jobs:
                continue
            self._remember(job)
            if job.array_job_id is not None:
                tasks = self.array_tasks.setdefault(job.array_job_id, [])
                if job.id not in tasks:
                    tasks.append(job.id)

    async def load_targets(self, text: str) -> None:
        """Before a submit is decided: the facts of the jobs its dependency names that
        are not in memory, from the store (a text that does not parse is left for the
        submit command to refuse in its turn)."""
        try:
            deps = parse_dependency(text)
        except CorralError:
            return
        missing = self.missing(deps)
        if missing:
            await self.ctl.writer.read(lambda conn: self.load(conn, missing))

    def known(self, target: Target) -> bool:
        """Whether some job is named by the target (services/submission.py)."""
        return self.target_facts(target) is not None
