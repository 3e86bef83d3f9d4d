"""The published read model's jobs: an Entry a job (its JSON, kept as it is or
packed: services/packs.py) and a Chunk of entries by id (services/snapshot.py)."""

from __future__ import annotations

import json

from corral.model.job import Job
from corral.model.states import JobState
from corral.services import readmodel
from corral.services.access import withheld
from corral.services.authz import Action, allows
from corral.services.identity import Caller
from corral.services.packs import Pack

_SCHED_KEYS = ("reason", "priority", "priority_factors", "t_expected_start")
MAX_KEPT_VIEWS = 8  # a chunk's joined renderings kept (one per kind of reader)
_STATES = {s: str(s) for s in JobState}  # one string a state, not one a job


class Entry:
    """One job (or an array's pending rest) as published: its JSON (the very string
    the job keeps, services/readmodel.py: no copy; or, once packed, where it is in a
    Pack: services/packs.py), and what the listing filters read. `public` (its
    private fields withheld, for callers who may not read them) is derived from
    the full JSON when first asked for."""

    __slots__ = ("array_job_id", "at", "full_", "id", "name", "pack", "partition",
                 "public_", "rest", "state", "uid", "user")

    def __init__(self, job: Job, full: bytes, *, rest: bool = False) -> None:
        self.id = job.id
        self.uid = job.uid
        self.user = job.user
        self.state = _STATES[job.state]
        self.partition = job.partition
        self.name = job.spec.name
        self.array_job_id = job.array_job_id
        self.full_: bytes | None = full
        self.pack: Pack | None = None
        self.at = 0  # its place in the pack
        self.rest = rest
        self.public_: bytes | None = None

    @property
    def full(self) -> bytes:
        out = self.full_
        if out is None:  # packed (pack and at are set before full_ is dropped)
            assert self.pack is not None
            return self.pack.part(self.at)
        return out

    def packed(self, pack: Pack, at: int) -> None:
        """Its JSON is now the pack's `at`th: the writer's own copy goes (readers on
        other threads read `full` at any moment: the pack comes first)."""
        self.pack, self.at = pack, at
        self.full_ = None
        self.public_ = None

    def public(self) -> bytes:
        out = self.public_
        if out is None:
            d = json.loads(self.full)
            if self.rest:
                out = readmodel.dumps(withheld(d))
            else:  # the order readmodel.job_json(public=True) writes: scheduler part last
                sched = {k: d.pop(k) for k in _SCHED_KEYS}
                d = withheld(d)
                d.update(sched)
                out = readmodel.dumps(d)
            if self.full_ is not None:  # a packed job's is made again when asked for
                self.public_ = out
        return out

    def brief(self) -> bytes:
        """Its brief view (services/readmodel.py), made afresh (not kept)."""
        return readmodel.brief(self.full)

    def as_seen_by(self, caller: Caller) -> bytes:
        """As services/access.py lets the caller read it."""
        return self.full if allows(caller, Action.READ_PRIVATE, self.uid) else self.public()


class Chunk(dict[int, Entry]):
    """Up to 1,024 published jobs by id, never changed once published (a publish
    that changes one of its jobs makes a new Chunk): what readers derive from it,
    the joined JSON of its jobs as one kind of reader sees them (`bodies`), is kept
    on it, so that a listing after a change joins again only the chunks that
    changed, not every job in the queue. Its jobs' brief views (the same for every
    reader who sees them) are made from their JSON when a brief listing first asks
    for them, and kept the same way (`briefs`)."""

    __slots__ = ("bodies", "briefs_")

    def __init__(self, entries: dict[int, Entry] | None = None) -> None:
        super().__init__(entries or {})
        self.bodies: dict[object, bytes] = {}
        self.briefs_: readmodel.Briefs | None = None

    def briefs(self) -> readmodel.Briefs:
        """Its jobs' brief views, in id order (made when first asked for)."""
        out = self.briefs_
        if out is None:
            ids = sorted(self)
            out = self.briefs_ = readmodel.Briefs(ids, [self[i].brief() for i in ids])
        return out

    def body(self, caller: Caller, view: object) -> bytes:
        """Its jobs in id order, as the caller sees them, joined by commas (b"" for
        none); `view` names what the caller sees (the same for every caller that
        sees the same)."""
        out = self.bodies.get(view)
        if out is None:
            out = b",".join([self[i].as_seen_by(caller) for i in sorted(self)])
            if len(self.bodies) >= MAX_KEPT_VIEWS:
                self.bodies.clear()
            self.bodies[view] = out
        return out
