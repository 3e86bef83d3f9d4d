"""The UWS jobs' life over the controller's commands: a job is created PENDING (a row
of its own, no corral job yet), runs as a corral job once asked (PHASE=RUN), is
aborted, destroyed at its destruction time (archived or deleted, as the site says)
or deleted. Who may do what is the controller's own rule: the owner, or a role
that acts on others' jobs."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from corral.config import UwsConfig
from corral.model.bounds import shown
from corral.model.errors import Conflict, CorralError, NotFound, PermissionDenied
from corral.model.job import Job
from corral.model.sandbox import CHUNK_BYTES
from corral.services.authz import Action, allows
from corral.services.estimate import estimate
from corral.services.identity import Caller
from corral.services.sandboxes import check_stored, store_of
from corral.services.uws import template
from corral.store import jobs as store_jobs
from corral.store import uws as store_uws
from corral.store.uws import Upload, UwsRecord

if TYPE_CHECKING:
    from corral.services.controller import Controller

log = logging.getLogger("corral.uws")
MAX_FILENAME = 255
SWEEP_EVERY_S = 5.0
SWEEP_BATCH = 100
MS = 0.001


@dataclass(frozen=True, slots=True)
class UwsView:
    """A UWS job as it stands: its record and its corral job (None: not run yet)."""

    record: UwsRecord
    job: Job | None


def bounds_name(filename: str) -> str:
    """A client's file name as the documents may show it (printable, at most
    MAX_FILENAME characters; only shown, never a path)."""
    name = "".join(ch if ch.isprintable() else "_" for ch in filename.replace("\\", "/")
                   .rsplit("/", 1)[-1])
    return name[:MAX_FILENAME] or "file"


class UwsJobs:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self._run_lock = asyncio.Lock()  # two PHASE=RUN at once submit one job

    @property
    def cfg(self) -> UwsConfig:
        return self.ctl.cfg.uws

    # ---- reads ------------------------------------------------------------------
    async def _record(self, caller: Caller, uws_id: int) -> UwsRecord:
        rec: UwsRecord | None = await self.ctl.writer.read(lambda c: store_uws.get(c, uws_id))
        if rec is None:
            raise NotFound(f"job {uws_id}: no such UWS job")
        if not self.reads(caller, rec.uid):
            raise PermissionDenied(f"job {uws_id}: another user's UWS job")
        return rec

    @staticmethod
    def reads(caller: Caller, uid: int | None) -> bool:
        """May the caller read the UWS jobs of `uid` (None: everyone's)? Their
        parameters are as private as a job's script: the owner's, and administrators'."""
        return uid == caller.uid or allows(caller, Action.READ_PRIVATE, -1)

    async def _job(self, job_id: int | None) -> Job | None:
        if job_id is None:
            return None
        try:
            return await self.ctl.get_job(job_id)
        except NotFound:  # (a store without the row: the record alone)
            return None

    async def view(self, caller: Caller, uws_id: int) -> UwsView:
        rec = await self._record(caller, uws_id)
        return UwsView(rec, await self._job(rec.job_id))

    async def listing(self, caller: Caller, *, t_created_after: float | None = None
                      ) -> list[UwsView]:
        """The caller's UWS jobs (everyone's for an administrator), newest first."""
        uid = None if self.reads(caller, None) else caller.uid
        # creation times are kept to the millisecond, as the documents show them:
        # "after T" is from T + 1 ms on
        after = None if t_created_after is None else t_created_after + MS / 2
        recs: list[UwsRecord] = await self.ctl.writer.read(
            lambda c: store_uws.listed(c, uid=uid, t_created_after=after))
        ids = [r.job_id for r in recs if r.job_id is not None and r.job_id not in self.ctl.jobs]
        stored: dict[int, Job] = {}
        if ids:
            found: list[Job] = await self.ctl.writer.read(
                lambda c: store_jobs.query_jobs(c, ids=ids))
            stored = {j.id: j for j in found}
        return [UwsView(r, None if r.job_id is None
                        else self.ctl.jobs.get(r.job_id) or stored.get(r.job_id))
                for r in recs]

    def spec_of(self, rec: UwsRecord) -> Any:
        return template.job_spec(self.cfg, rec.parameters, rec.workdir, rec.user,
                                 rec.execution_duration_s,
                                 {k: u.sha256 for k, u in rec.uploads.items()})

    async def store_file(self, field: str, filename: str, file: BinaryIO) -> Upload:
        """A file parameter's file, kept in the sandbox store (within
        sandboxes.max_file_bytes), whence the job's node fetches it."""
        def chunks() -> Iterator[bytes]:
            while chunk := file.read(CHUNK_BYTES):
                yield chunk
        store = store_of(self.ctl.cfg)
        shown_name = bounds_name(filename)
        digest, size = await asyncio.to_thread(store.put, chunks(),
                                               name=f"parameter {field}")
        return Upload(digest, shown_name, size)

    async def parameter(self, caller: Caller, uws_id: int, name: str
                        ) -> tuple[str, str | Upload]:
        """One parameter: (its name as the site spells it, its value or its file)."""
        rec = await self._record(caller, uws_id)
        key = template.canonical_name(self.cfg, name)
        if key is not None and key in rec.uploads:
            return key, rec.uploads[key]
        if key is None or key not in rec.parameters:
            raise NotFound(f"job {uws_id}: no parameter {shown(name)}")
        return key, rec.parameters[key]

    def quote(self, caller: Caller, v: UwsView) -> float | None:
        """When the job is expected to end (None: not known)."""
        job = v.job
        if job is None:
            if v.record.t_aborted is not None or v.record.t_archived is not None:
                return None
            try:  # as if it were asked to run now
                found = estimate(self.ctl, caller, self.spec_of(v.record),
                                 user=v.record.user if v.record.uid != caller.uid else None)
            except CorralError:
                return None
            start = found.get("t_expected_start")
            return None if start is None else float(start) + v.record.execution_duration_s
        if job.state.is_final:
            return job.t_end
        if job.t_start is not None:
            return job.t_start + job.time_limit_s if job.time_limit_s else None
        if job.t_eligible_est is not None and job.time_limit_s:
            return job.t_eligible_est + job.time_limit_s
        return None

    def result_files(self, v: UwsView) -> dict[str, tuple[str, int]]:
        """result id -> (sha256, size) of the results stored (none once archived)."""
        if v.job is None or v.record.t_archived is not None:
            return {}
        stored = store_of(self.ctl.cfg).outputs(v.job.id)
        return {rid: stored[name] for rid, name in
                template.result_files(self.cfg, v.record.workdir).items() if name in stored}

    # ---- changes ----------------------------------------------------------------
    def execution_duration(self, asked_s: int | None) -> int:
        """What the site grants of an asked execution duration (0: the most it allows)."""
        if asked_s is None:
            return self.cfg.execution_duration_s
        if asked_s == 0:
            return self.cfg.max_execution_duration_s
        return min(asked_s, self.cfg.max_execution_duration_s)

    def destruction(self, asked: float | None, now: float) -> float:
        """What the site grants of an asked destruction time."""
        if asked is None:
            return now + self.cfg.destruction_s
        return min(max(asked, now), now + self.cfg.max_destruction_s)

    async def create(self, caller: Caller, given: Iterable[tuple[str, str]], *,
                     run_id: str | None, execution_duration_s: int | None,
                     destruction: float | None, run: bool,
                     files: Mapping[str, Upload] | None = None) -> int:
        """`files`: the file parameters uploaded (checked with template.checked_files)."""
        uploads = dict(files or {})
        params = template.checked_parameters(self.cfg, given, files=uploads)
        now = round(time.time() / MS) * MS  # (to the millisecond: listing's AFTER)
        workdir = f"uws-{secrets.token_hex(8)}"
        duration_s = self.execution_duration(execution_duration_s)
        # what a submit would refuse is refused now, not at PHASE=RUN
        self.ctl.access.check_submit(
            caller, template.job_spec(self.cfg, params, workdir, caller.user, duration_s,
                                      {k: u.sha256 for k, u in uploads.items()}))
        uws_id: int = await self.ctl.persist(lambda c: store_uws.add(
            c, user=caller.user, uid=caller.uid, run_id=run_id, parameters=params,
            workdir=workdir, t_created=now, execution_duration_s=duration_s,
            t_destruction=self.destruction(destruction, now), uploads=uploads))
        log.info("UWS job %d created by %s", uws_id, caller.user)
        if run:
            await self.run(caller, uws_id)
        return uws_id

    def _check_acts(self, caller: Caller, rec: UwsRecord, action: Action) -> None:
        if not allows(caller, action, rec.uid):
            raise PermissionDenied(f"job {rec.id}: {action.value} another user's UWS job")

    async def run(self, caller: Caller, uws_id: int) -> None:
        """PHASE=RUN: submit the corral job (once); a held one is released."""
        async with self._run_lock:
            await self._run(caller, uws_id)

    async def _run(self, caller: Caller, uws_id: int) -> None:
        rec = await self._record(caller, uws_id)
        self._check_acts(caller, rec, Action.SUBMIT_AS if caller.uid != rec.uid
                         else Action.SUBMIT)
        if rec.t_aborted is not None or rec.t_archived is not None:
            raise Conflict(f"job {uws_id}: it was {'aborted' if rec.t_aborted else 'archived'}"
                           f"; it cannot run")
        if rec.job_id is not None:
            job = await self._job(rec.job_id)
            if job is not None and job.state.value == "HELD":
                await self.ctl.release(caller, job.id)
            return
        spec = self.spec_of(rec)
        # its uploaded files still kept (a job left PENDING past the store's retention)
        await asyncio.to_thread(check_stored, spec, self.ctl.cfg)
        ids = await self.ctl.submit(caller, spec,
                                    user=rec.user if rec.uid != caller.uid else None)
        await self.ctl.persist(lambda c: store_uws.change(c, uws_id, job_id=ids[0]))
        log.info("UWS job %d runs as job %d", uws_id, ids[0], extra={"job_id": ids[0]})

    async def abort(self, caller: Caller, uws_id: int) -> None:
        """PHASE=ABORT: one that has not run never will; a queued or running one is
        cancelled; one that ended stays as it is."""
        rec = await self._record(caller, uws_id)
        self._check_acts(caller, rec, Action.CANCEL)
        await self._stop(caller, rec)

    async def _stop(self, caller: Caller | None, rec: UwsRecord) -> None:
        if rec.job_id is None:
            if rec.t_aborted is None:
                await self.ctl.persist(lambda c: store_uws.change(c, rec.id,
                                                                  t_aborted=time.time()))
            return
        job = await self._job(rec.job_id)
        if job is not None and not job.state.is_final:
            await self.ctl.cancel(caller or self._owner(rec), job.id)

    @staticmethod
    def _owner(rec: UwsRecord) -> Caller:
        return Caller(uid=rec.uid, user=rec.user, gid=-1)

    async def delete(self, caller: Caller, uws_id: int) -> None:
        """DELETE: stopped, its results dropped, and forgotten."""
        rec = await self._record(caller, uws_id)
        self._check_acts(caller, rec, Action.CANCEL)
        await self._destroy(caller, rec, archive=False)

    async def _destroy(self, caller: Caller | None, rec: UwsRecord, *, archive: bool) -> None:
        await self._stop(caller, rec)
        if rec.job_id is not None:
            await asyncio.to_thread(store_of(self.ctl.cfg).drop_outputs, rec.job_id)
        if archive:
            await self.ctl.persist(lambda c: store_uws.change(c, rec.id,
                                                              t_archived=time.time()))
        else:
            await self.ctl.persist(lambda c: store_uws.remove(c, rec.id))
        log.info("UWS job %d %s", rec.id, "archived" if archive else "deleted")

    async def set_execution_duration(self, caller: Caller, uws_id: int, asked_s: int) -> None:
        rec = await self._record(caller, uws_id)
        self._check_acts(caller, rec, Action.UPDATE)
        granted = self.execution_duration(asked_s)
        if rec.job_id is not None:
            job = await self._job(rec.job_id)
            if job is None or job.state.is_final:
                raise Conflict(f"job {uws_id}: it has ended; its execution duration stays")
            await self.ctl.update(caller, job.id, {"time_limit_s": granted})
        await self.ctl.persist(lambda c: store_uws.change(c, uws_id,
                                                          execution_duration_s=granted))

    async def set_destruction(self, caller: Caller, uws_id: int, asked: float) -> None:
        rec = await self._record(caller, uws_id)
        self._check_acts(caller, rec, Action.UPDATE)
        if rec.t_archived is not None:
            raise Conflict(f"job {uws_id}: archived already")
        granted = self.destruction(asked, time.time())
        await self.ctl.persist(lambda c: store_uws.change(c, uws_id, t_destruction=granted))

    async def check_pending(self, caller: Caller, uws_id: int) -> None:
        """Refused unless the caller may change the job's parameters now (before a
        file is stored for it)."""
        rec = await self._record(caller, uws_id)
        self._check_acts(caller, rec, Action.UPDATE)
        self._pending(rec)

    @staticmethod
    def _pending(rec: UwsRecord) -> None:
        if rec.job_id is not None or rec.t_aborted is not None or rec.t_archived is not None:
            raise Conflict(f"job {rec.id}: its parameters change only while it is PENDING")

    async def set_parameters(self, caller: Caller, uws_id: int,
                             given: Iterable[tuple[str, str]],
                             files: Mapping[str, Upload] | None = None) -> None:
        """Parameters changed while the job is PENDING (not after: it runs with them);
        `files`: file parameters uploaded anew."""
        rec = await self._record(caller, uws_id)
        self._check_acts(caller, rec, Action.UPDATE)
        self._pending(rec)
        uploads = {**rec.uploads, **(files or {})}
        before = {k: v for k, v in rec.parameters.items() if k not in (files or {})}
        params: Mapping[str, str] = template.checked_parameters(
            self.cfg, given, before, files=uploads)
        await self.ctl.persist(lambda c: store_uws.change(c, uws_id, parameters=params,
                                                          uploads=uploads))

    # ---- destruction ------------------------------------------------------------
    async def destroy_due(self, now: float) -> int:
        """Destroy the jobs whose destruction time has come -> how many."""
        due: list[UwsRecord] = await self.ctl.writer.read(
            lambda c: store_uws.due(c, now, SWEEP_BATCH))
        archive = self.cfg.on_destruction == "archive"
        for rec in due:
            try:
                await self._destroy(None, rec, archive=archive)
            except CorralError as exc:  # (e.g. its job ended meanwhile)
                log.warning("UWS job %d: not destroyed: %s", rec.id, exc)
        return len(due)

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                await self.destroy_due(time.time())
            except Exception:  # one bad pass must not end the sweeps
                log.exception("UWS destruction pass failed")
