"""The controller's queue of jobs, indexed by state as it changes.

A plain dict of job id -> job that also keeps, up to date on every insert, removal
and state change, the ids in each state (so a scheduling pass walks only the
pending jobs, /metrics counts without walking, explain finds the running ones) and
the jobs in id order (shared by every listing until a job arrives or leaves).
Every job it holds is a TrackedJob (model/job.py), so renderings cached on it are
dropped whenever it changes.
"""

from __future__ import annotations

from typing import Any

from corral.model.job import DIRTY, UNRECORDED, Job, dirtied, track
from corral.model.states import JobState


class JobTable(dict[int, Job]):
    def __init__(self) -> None:
        super().__init__()
        # state -> its jobs' ids (a dict used as an insertion-ordered set: a third of
        # a set's memory per id)
        self.by_state: dict[JobState, dict[int, None]] = {s: {} for s in JobState}
        # bumped on every removal, state change and insert (but that of a new waiting
        # job): what depends only on the other jobs' states (dependencies, singletons)
        # need not be judged again until then
        self.generation = 0
        self._ordered: list[Job] | None = None
        self._max_id = 0
        self.array_tasks = 0  # how many of the jobs are tasks of an array

    def __setitem__(self, job_id: int, job: Job) -> None:
        old = self.get(job_id)
        if old is not None:
            self.by_state[old.state].pop(job_id, None)
            self.array_tasks -= old.array_job_id is not None
        self.array_tasks += job.array_job_id is not None
        super().__setitem__(job_id, track(job))
        self.by_state[job.state][job_id] = None
        ordered = self._ordered
        newest = old is None and job_id > self._max_id
        self._max_id = max(self._max_id, job_id)
        if not (newest and job.state.is_waiting):
            self.generation += 1  # a new submission changes no other job's dependencies
        if newest and ordered is not None:
            ordered.append(job)
        else:
            self._ordered = None

    def __delitem__(self, job_id: int) -> None:
        job = self[job_id]
        super().__delitem__(job_id)
        if not DIRTY:
            dirtied()
        DIRTY.add(job_id)  # gone from the next read model (services/snapshot.py)
        UNRECORDED.pop(job_id, None)
        self.by_state[job.state].pop(job_id, None)
        self.array_tasks -= job.array_job_id is not None
        self.generation += 1
        self._ordered = None

    def pop(self, job_id: int, *default: Any) -> Any:
        if job_id not in self:
            return dict.pop(self, job_id, *default)
        job = self[job_id]
        del self[job_id]
        return job

    def restate(self, job: Job, old: JobState) -> None:
        """The job moved from `old` to job.state (services/runtime.py: apply via change)."""
        if self.get(job.id) is not job:
            return  # an array's rest or a copy: not in the queue
        self.by_state[old].pop(job.id, None)
        self.by_state[job.state][job.id] = None
        self.generation += 1

    def ids_in(self, *states: JobState) -> list[int]:
        """The ids of the jobs in any of these states, in id order."""
        out: list[int] = []
        for s in states:
            out.extend(self.by_state[s])
        out.sort()
        return out

    def ordered(self) -> list[Job]:
        """Every job, in id order (shared: do not change the list)."""
        if self._ordered is None:
            self._ordered = sorted(self.values(), key=lambda j: j.id)
        return self._ordered
