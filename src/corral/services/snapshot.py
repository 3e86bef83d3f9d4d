"""The published read model: an immutable snapshot of the queue that readers use
without touching the controller's state.

The controller (the single writer) publishes a new Snapshot whenever jobs changed:
before it answers any request on its loop (so a client that submitted or changed a
job reads it in the very next request: read-your-writes), and a few milliseconds
after a change made by itself (a scheduling pass, an agent's report, housekeeping):
the first change after a publication wakes the publisher (model/job.py's ON_DIRTY),
which publishes at most every PUBLISH_EVERY_S; an idle controller publishes nothing
and its loop is not woken for it (the gauges are looked at once a second).
Publishing costs what changed, not the size of the queue: the ids of the jobs that
changed are in model/job.py's DIRTY; each gets a new Entry (its JSON, rendered once
by services/readmodel.py, and the fields the filters read), and the jobs are kept in
chunks of 1,024 ids, so only the chunks holding a changed job are copied.

A Snapshot is never changed once published (what readers memoise on it is derived
from it alone), so another thread may answer listings, one-job queries and /metrics
from it while the writer's loop applies changes and schedules (api/readpath.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral.model.job import DIRTY, ON_DIRTY, TrackedJob
from corral.model.states import JobState, NodeState
from corral.services import readmodel
from corral.services.authz import Action, allows
from corral.services.entries import Chunk, Entry
from corral.services.heap import Releaser
from corral.services.identity import Caller
from corral.services.packs import PACK_AFTER_S, PACK_JOBS, Pack

if TYPE_CHECKING:
    from corral.services.controller import Controller

SNAPSHOT_KEY = "corral.snapshot"  # the ASGI scope's key for a snapshot pinned to a request
PUBLISH_EVERY_S = 0.02  # the longest a change the writer made on its own stays unread
REFRESH_EVERY_S = 1.0  # the gauges and arrays' rests, looked at when no job changed
_CHUNK_BITS = 10  # 1,024 ids a chunk
MAX_KEPT_LISTINGS = 16
MAX_PACKED_CHUNKS_A_TURN = 4  # chunks packed a turn of the publisher's loop (~4k jobs)
_BRIEFS_FOR = 64  # a brief listing of this many jobs makes their chunks' brief views


@dataclass(frozen=True)
class Filters:
    """A listing's filters, each empty for none (as GET /v1/jobs takes them)."""

    users: frozenset[str] = frozenset()
    states: frozenset[str] = frozenset()
    partitions: frozenset[str] = frozenset()
    ids: frozenset[int] = frozenset()
    names: frozenset[str] = frozenset()
    arrays: frozenset[int] = frozenset()

    def any(self) -> bool:
        return bool(self.users or self.states or self.partitions or self.ids
                    or self.names or self.arrays)

    def match(self, e: Entry) -> bool:
        return not ((self.users and e.user not in self.users)
                    or (self.states and e.state not in self.states)
                    or (self.partitions and e.partition not in self.partitions)
                    or (self.names and e.name not in self.names)
                    or (self.ids and e.id not in self.ids)
                    or (self.arrays and e.array_job_id not in self.arrays))


@dataclass(frozen=True)
class Gauges:
    """What /metrics shows, as of the snapshot."""

    jobs_by_state: dict[str, int]
    nodes_by_state: dict[str, int]
    cpus_total: int
    cpus_allocated: int
    scheduler_passes: int
    scheduler_last_pass_s: float
    counters: dict[str, int]


@dataclass(frozen=True)
class Snapshot:
    version: int
    private_jobs: bool  # private_data = ["jobs"]: callers see only their own jobs
    chunks: dict[int, Chunk]  # id >> _CHUNK_BITS -> id -> entry
    rests: tuple[Entry, ...]  # arrays' pending rests, in id order
    gauges: Gauges
    t_published: float
    # derived from the above by readers, when first asked for
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def job(self, job_id: int) -> Entry | None:
        chunk = self.chunks.get(job_id >> _CHUNK_BITS)
        return None if chunk is None else chunk.get(job_id)

    def sees(self, caller: Caller, e: Entry) -> bool:
        """Does the job exist for the caller? (services/access.py, Access.sees)"""
        return not self.private_jobs or caller.uid == e.uid or allows(caller, Action.SEE_ALL)

    def ordered(self) -> list[Entry]:
        """Every job in id order."""
        out: list[Entry] | None = self._memo.get("ordered")
        if out is None:
            out = []
            for k in sorted(self.chunks):
                chunk = self.chunks[k]
                out.extend(chunk[i] for i in sorted(chunk))
            self._memo["ordered"] = out
        return out

    def __len__(self) -> int:
        return sum(len(c) for c in self.chunks.values())

    def answers(self, f: Filters) -> bool:
        """Can a listing with these filters be answered from here? Not one by job id
        while arrays have pending rests (which of a rest's tasks are pending is not
        published): the controller answers that one."""
        return not (f.ids and self.rests)

    def listing(self, caller: Caller, f: Filters, limit: int | None,
                view: str = "full") -> bytes:
        """`{"jobs": [...]}` as GET /v1/jobs answers (not history): the jobs and
        pending rests the caller may see that match, in id order; `view` "brief":
        each job's brief view (services/readmodel.py)."""
        parts = self.listing_parts(caller, f, limit, view)
        if len(parts) == 1:
            return parts[0]
        key = ("joined", caller, f, limit, view)
        body: bytes | None = self._memo.get(key)
        if body is None:
            body = b"".join(parts)
            self._keep(key, body)
        return body

    def listing_parts(self, caller: Caller, f: Filters, limit: int | None,
                      view: str = "full") -> tuple[bytes, ...]:
        """The listing as pieces to send one after the other (a whole listing of
        the queue is its chunks' renderings, which stay from one snapshot to the
        next while their jobs do not change: no copy of the whole)."""
        key = (caller, f, limit, view)
        out: tuple[bytes, ...] | None = self._memo.get(key)
        if out is not None:
            return out
        if not f.any() and limit is None and not self.rests and (
                not self.private_jobs or allows(caller, Action.SEE_ALL)):
            # every job: the chunks' joined renderings, most of them already made
            # (what as_seen_by reads of the caller: its uid and role)
            brief = view == "brief"
            seen = "all" if allows(caller, Action.READ_PRIVATE, -1 - caller.uid) \
                else (caller.uid, caller.role)
            pieces = [b'{"jobs":[']
            for k in sorted(self.chunks):
                chunk = self.chunks[k]
                b = chunk.briefs().joined if brief else chunk.body(caller, seen)
                if b:
                    if len(pieces) > 1:
                        pieces.append(b",")
                    pieces.append(b)
            pieces.append(b"]}")
            out = tuple(pieces)
            self._keep(key, out)
            return out
        if f.ids and not f.users and not f.states and not f.partitions:
            found = sorted(i for i in f.ids if self.job(i) is not None)
            jobs: Iterable[Entry] = (e for i in found if (e := self.job(i)) is not None)
        else:
            jobs = self.ordered()
        picked = self._pick(caller, f, jobs)
        if self.rests:
            picked = heapq.merge(picked, self._pick(caller, f, self.rests),
                                 key=lambda e: e.id)
        if view == "brief":
            entries = list(picked)
            parts = [self._brief(e, many=len(entries) >= _BRIEFS_FOR) for e in entries]
        else:
            parts = [e.as_seen_by(caller) for e in picked]
        if limit is not None:
            del parts[limit:]
        out = (b'{"jobs":[' + b",".join(parts) + b"]}",)
        self._keep(key, out)
        return out

    def _brief(self, e: Entry, *, many: bool) -> bytes:
        """A job's brief view: from its chunk's when they are made (or, for `many`
        jobs, made now), else made alone."""
        chunk = None if e.rest else self.chunks.get(e.id >> _CHUNK_BITS)
        if chunk is not None and chunk.get(e.id) is e and (many or chunk.briefs_):
            out = chunk.briefs().part(e.id)
            if out is not None:
                return out
        return e.brief()

    def _keep(self, key: object, body: object) -> None:
        if len(self._memo) < MAX_KEPT_LISTINGS:
            self._memo[key] = body

    def derived(self, key: object) -> Any:
        """What a reader kept on this snapshot under `key` (None: nothing)."""
        return self._memo.get(key)

    def keep(self, key: object, value: object) -> bool:
        """Keep something derived from this snapshot alone, for the next reader (a
        few things at most: whether it was kept)."""
        if len(self._memo) >= MAX_KEPT_LISTINGS:
            return False
        self._memo[key] = value
        return True

    def _pick(self, caller: Caller, f: Filters, entries: Iterable[Entry]) -> Iterator[Entry]:
        if not f.any():
            if not self.private_jobs or allows(caller, Action.SEE_ALL):
                return iter(entries)
            return (e for e in entries if e.uid == caller.uid)
        return (e for e in entries if f.match(e) and self.sees(caller, e))


def _gauges(ctl: Controller) -> Gauges:
    jobs = {str(s): len(ctl.jobs.by_state[s]) for s in JobState}
    for r in ctl.arrays.rests.values():
        jobs[str(r.template.state)] += len(r.pending)
    nodes = {str(s): 0 for s in NodeState}
    for n in ctl.nodes.values():
        nodes[str(n.state)] += 1
    up = [n for n in ctl.nodes.values() if n.reachable]
    sched = ctl.scheduler
    return Gauges(jobs_by_state=jobs, nodes_by_state=nodes,
                  cpus_total=sum(n.cpus for n in up),
                  cpus_allocated=sum(n.cpus_used for n in up),
                  scheduler_passes=sched.passes if sched else 0,
                  scheduler_last_pass_s=sched.last_pass_s if sched else 0.0,
                  counters=dict(ctl.counters))


class Publisher:
    """The writer's side: builds and publishes Snapshots (on the controller's loop
    only). `current` may be read from any thread."""

    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.version = 0
        self.current = Snapshot(0, ctl.access.private_jobs, {}, (),
                                Gauges({}, {}, 0, 0, 0, 0.0, {}), 0.0)
        self.writer_thread = threading.get_ident()  # (re)set by start()
        # chunks holding unpacked jobs -> when they last changed, oldest first
        self.unpacked: dict[int, float] = {}
        self.releaser = Releaser()  # what packing freed, handed back to the system
        self._changed: asyncio.Event | None = None  # a job changed: set by _wake
        self._loop: asyncio.AbstractEventLoop | None = None  # where loop() runs

    def start(self) -> None:
        """Publish every job in the queue (the controller's start-up)."""
        self.writer_thread = threading.get_ident()
        DIRTY.clear()
        DIRTY.update(self.ctl.jobs)
        self.publish(everything=True)

    def stop(self) -> None:
        """No longer woken by changes (the controller stops)."""
        with contextlib.suppress(ValueError):
            ON_DIRTY.remove(self._wake)
        self._loop = None

    def _wake(self) -> None:
        """A first job changed since the last publication (model/job.py, on the
        thread that changed it): wake loop()."""
        loop, changed = self._loop, self._changed
        if loop is None or changed is None:
            return
        if threading.get_ident() == self.writer_thread:
            changed.set()
        else:  # (a loop that has closed: nothing waits)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(changed.set)

    def on_writer(self) -> bool:
        return threading.get_ident() == self.writer_thread

    def snapshot(self, *, fresh: bool = False) -> Snapshot:
        """The snapshot to read. On the writer's own thread (a controller run
        in-process), what changed is published first (`fresh`: gauges too)."""
        if self.on_writer():
            self.publish(everything=fresh)
        return self.current

    async def loop(self) -> None:
        """Publish the changes the writer makes on its own (scheduling passes,
        agents' reports, housekeeping) soon after, and the gauges now and then.
        Sleeps while nothing changed: woken by the first change after a
        publication, then publishes at most every PUBLISH_EVERY_S (a burst of
        changes is one publication); otherwise wakes once a REFRESH_EVERY_S for
        the gauges, or when a chunk is due to be packed."""
        self._loop = asyncio.get_running_loop()
        changed = self._changed = asyncio.Event()
        if self._wake not in ON_DIRTY:
            ON_DIRTY.append(self._wake)
        t_all = t_last = time.monotonic()
        while True:
            if not DIRTY:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self._idle_s(t_all))
            changed.clear()
            gap_s = t_last + PUBLISH_EVERY_S - time.monotonic()
            if gap_s > 0:  # coalesce: the changes of a burst wait for one publication
                await asyncio.sleep(gap_s)
            now = time.monotonic()
            everything = now - t_all >= REFRESH_EVERY_S
            if everything:
                t_all = now
            self.publish(rests=everything, everything=everything)
            t_last = now
            self.pack_cold(now)

    def _idle_s(self, t_all: float) -> float:
        """How long loop() may sleep while no job changes: until the gauges are due
        (REFRESH_EVERY_S after t_all) or the oldest unpacked chunk is to be packed."""
        now = time.monotonic()
        wait_s = t_all + REFRESH_EVERY_S - now
        for t_changed in self.unpacked.values():  # the oldest first
            wait_s = min(wait_s, t_changed + PACK_AFTER_S - now)
            break
        return max(0.0, wait_s)

    def pack_cold(self, now: float) -> int:
        """Pack the jobs of the chunks that have not changed for PACK_AFTER_S (a few
        chunks a turn, so that a large queue is packed over several turns rather
        than in one long stall of the writer's loop). How many chunks were packed."""
        done = 0
        for k, t_changed in list(self.unpacked.items()):
            if now - t_changed < PACK_AFTER_S or done >= MAX_PACKED_CHUNKS_A_TURN:
                break
            del self.unpacked[k]
            chunk = self.current.chunks.get(k)
            if chunk is not None:
                self._pack(chunk)
                done += 1
        if done and not self.unpacked:
            self.releaser.settle()
        return done

    def _pack(self, chunk: Chunk) -> None:
        hot = [e for i in sorted(chunk) if (e := chunk[i]).full_ is not None]
        jobs = self.ctl.jobs
        for n in range(0, len(hot), PACK_JOBS):
            group = hot[n:n + PACK_JOBS]
            pack = Pack([e.full_ or b"" for e in group])
            self.releaser.dropped(pack.size)
            for at, e in enumerate(group):
                e.packed(pack, at)
                job = jobs.get(e.id)
                if type(job) is TrackedJob and job.views is not None:
                    readmodel.forget(job)

    def publish(self, *, rests: bool = True, everything: bool = False) -> Snapshot:
        """A new snapshot if any job changed since the last, or (`rests`) while
        arrays have pending rests (whose changes are not tracked: rendered again),
        or `everything` (the gauges too)."""
        if not (DIRTY or everything or (rests and (self.ctl.arrays.rests
                                                   or self.current.rests))):
            return self.current
        old = self.current
        jobs_changed = bool(DIRTY)
        gauges = _gauges(self.ctl)
        chunks = dict(old.chunks)
        copied: set[int] = set()
        jobs = self.ctl.jobs
        t_now = time.monotonic()
        for job_id in DIRTY:
            k = job_id >> _CHUNK_BITS
            if k not in copied:
                self.unpacked.pop(k, None)
                self.unpacked[k] = t_now
                chunks[k] = Chunk(chunks.get(k))
                copied.add(k)
            job = jobs.get(job_id)
            if job is None:
                chunks[k].pop(job_id, None)
            else:
                chunks[k][job_id] = Entry(job, readmodel.job_json(job))
        DIRTY.clear()
        for k in copied:
            if not chunks[k]:
                del chunks[k]
        if rests or everything:
            rest_entries = tuple(
                Entry(r.template, readmodel.job_json(r.template, r.to_dict()), rest=True)
                for r in sorted(self.ctl.arrays.rests.values(), key=lambda r: r.id))
            if [e.full for e in rest_entries] == [e.full for e in old.rests]:
                rest_entries = old.rests
        else:
            rest_entries = old.rests
        private_jobs = self.ctl.access.private_jobs
        if (not jobs_changed and rest_entries is old.rests and gauges == old.gauges
                and private_jobs == old.private_jobs):
            return old  # nothing a reader could see differs
        # the same jobs and rests: what readers derived (whole listings) still holds
        memo = old._memo if not jobs_changed and rest_entries is old.rests else {}
        self.version += 1
        self.current = Snapshot(self.version, private_jobs, chunks,
                                rest_entries, gauges, time.time(), memo)
        return self.current
