"""The UWS 1.1 REST binding under the configured path (uws.path, default /uws), with
the same callers as the rest of the API (api/auth.py). Errors are one line of
text/plain with the status of the error table (api/errors.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse
from fastapi.routing import APIRoute

from corral.api.auth import user_caller
from corral.api.errors import status_for
from corral.api.uws import form, xml
from corral.api.uws.phases import ACTIVE, Phase, error_summary, phase_of
from corral.model.bounds import shown
from corral.model.errors import CorralError, InvalidRequest, NotFound
from corral.services.identity import Caller
from corral.services.sandboxes import store_of
from corral.services.uws.jobs import UwsJobs, UwsView
from corral.services.uws.template import STDOUT_RESULT

CallerDep = Annotated[Caller, Depends(user_caller)]
CONTROL = frozenset({"PHASE", "RUNID", "EXECUTIONDURATION", "DESTRUCTION", "ACTION"})
LIST_FILTERS = frozenset({"PHASE", "AFTER", "LAST"})
WAIT_FIELDS = frozenset({"WAIT", "PHASE"})
MAX_LAST = 1_000_000
MAX_ID = 2**63 - 1
POLL_S = 0.1  # how often a WAIT looks at the job's state (in memory)
RELOAD_S = 1.0  # and at its record (the store)
ERROR_DETAIL_BYTES = 64 * 1024  # the end of its output, in the error document
TEXT = "text/plain; charset=utf-8"


class UwsRoute(APIRoute):
    """Domain errors as one line of text (UWS clients read text, not JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except CorralError as err:
                return PlainTextResponse(" ".join(err.message.split()) + "\n",
                                         status_code=status_for(err))
        return handle


def _svc(request: Request) -> UwsJobs:
    svc: UwsJobs = request.app.state.controller.uws
    return svc


def _uws_id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 19 or int(text) > MAX_ID:
        raise NotFound(f"job {shown(text)}: no such UWS job (ids are numbers)")
    return int(text)


def _base(request: Request) -> str:
    path: str = request.app.state.controller.cfg.uws.path
    return str(request.base_url).rstrip("/") + path


def _job_url(request: Request, uws_id: int) -> str:
    return f"{_base(request)}/{uws_id}"


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _xml(body: bytes) -> Response:
    return Response(content=body, media_type=xml.MEDIA_TYPE)


def _text(value: str) -> PlainTextResponse:
    return PlainTextResponse(value, media_type=TEXT)


def _doc(request: Request, caller: Caller, v: UwsView) -> xml.JobDoc:
    svc = _svc(request)
    rec, job = v.record, v.job
    href = _job_url(request, rec.id)
    err = error_summary(v)
    phase = phase_of(v)
    return xml.JobDoc(
        id=rec.id, href=href, run_id=rec.run_id, owner=rec.user, phase=phase.value,
        quote=svc.quote(caller, v) if phase not in (Phase.ARCHIVED,) else None,
        t_created=rec.t_created, t_start=job.t_start if job else None,
        t_end=job.t_end if job and job.state.is_final else (
            rec.t_aborted if job is None else None),
        execution_duration_s=_duration_s(v),
        t_destruction=rec.t_destruction, parameters=rec.parameters,
        results=tuple(xml.Result(rid, f"{href}/results/{rid}", size)
                      for rid, (_, size) in sorted(svc.result_files(v).items())),
        error=(err.transient, err.message) if err else None,
        corral_job_id=rec.job_id)


def _duration_s(v: UwsView) -> int:
    """The job's execution duration: its corral job's time limit once it has one."""
    job = v.job
    return job.time_limit_s if job is not None and job.time_limit_s \
        else v.record.execution_duration_s


def _phase(name: str, value: str) -> Phase:
    up = value.strip().upper()
    if up not in Phase.__members__:
        raise InvalidRequest(f"{name}: {shown(value)} is not a UWS phase "
                             f"(one of {', '.join(Phase.__members__)})")
    return Phase(up)


def make_router(path: str) -> APIRouter:
    router = APIRouter(prefix=path, route_class=UwsRoute, tags=["uws"])

    @router.get("", response_class=Response)
    async def uws_list(request: Request, caller: CallerDep) -> Response:
        """The job list; ?PHASE= (repeated: any of them), ?AFTER=, ?LAST=."""
        control, rest = form.split(await form.fields(request), LIST_FILTERS)
        if rest:
            raise InvalidRequest(f"{shown(rest[0][0])}: not a filter of the job "
                                 f"list (PHASE, AFTER, LAST)")
        phases = {_phase("PHASE", p) for p in control.get("PHASE", [])}
        after = form.one(control, "AFTER")
        last = form.one(control, "LAST")
        n = form.integer("LAST", last, 1, MAX_LAST) if last is not None else None
        views = await _svc(request).listing(
            caller, t_created_after=form.instant("AFTER", after) if after else None)
        listed = []
        for v in views:
            phase = phase_of(v)
            if (phases and phase not in phases) or (not phases and phase == Phase.ARCHIVED):
                continue
            listed.append(v)
            if n is not None and len(listed) >= n:
                break
        return _xml(xml.job_list(
            xml.JobRef(v.record.id, _job_url(request, v.record.id), phase_of(v).value,
                       v.record.run_id, v.record.user, v.record.t_created) for v in listed))

    @router.post("", response_class=Response)
    async def uws_create(request: Request, caller: CallerDep) -> Response:
        """A new job from the form's parameters; PHASE=RUN runs it at once."""
        control, params = form.split(await form.fields(request), CONTROL)
        phase = form.one(control, "PHASE")
        if phase is not None and phase.strip().upper() != "RUN":
            raise InvalidRequest(f"PHASE: {shown(phase)} cannot create a job "
                                 f"(RUN, or leave it out)")
        if control.get("ACTION"):
            raise InvalidRequest("ACTION: not for the job list (DELETE is a job's)")
        duration = form.one(control, "EXECUTIONDURATION")
        destruction = form.one(control, "DESTRUCTION")
        run_id = form.one(control, "RUNID")
        uws_id = await _svc(request).create(
            caller, params, run_id=form.checked_value("RUNID", run_id, 255) if run_id else None,
            execution_duration_s=form.integer("EXECUTIONDURATION", duration, 0, form.MAX_INT)
            if duration is not None else None,
            destruction=form.instant("DESTRUCTION", destruction) if destruction else None,
            run=phase is not None)
        return _see_other(_job_url(request, uws_id))

    @router.get("/{uws_id}", response_class=Response)
    async def uws_job(request: Request, uws_id: str, caller: CallerDep) -> Response:
        """The job; ?WAIT=N blocks up to N seconds (-1: the site's longest) while it is
        PENDING, QUEUED or EXECUTING (and, with ?PHASE=, in that phase) until its
        phase changes."""
        jid = _uws_id(uws_id)
        control, rest = form.split(await form.fields(request), WAIT_FIELDS)
        if rest:
            raise InvalidRequest(f"{shown(rest[0][0])}: not a parameter of a "
                                 f"job's GET (WAIT, PHASE)")
        wait = form.one(control, "WAIT")
        expect = form.one(control, "PHASE")
        wait_s = form.integer("WAIT", wait, -1, form.MAX_INT) if wait is not None else None
        expected = _phase("PHASE", expect) if expect is not None else None
        svc = _svc(request)
        v = await svc.view(caller, jid)
        if wait_s is not None and wait_s != 0:
            limit_s = svc.cfg.max_wait_s if wait_s < 0 else min(wait_s, svc.cfg.max_wait_s)
            v = await _wait(svc, caller, v, expected, time.monotonic() + limit_s)
        return _xml(xml.job(_doc(request, caller, v)))

    @router.post("/{uws_id}", response_class=Response)
    async def uws_job_action(request: Request, uws_id: str, caller: CallerDep) -> Response:
        """ACTION=DELETE (for clients that cannot send DELETE)."""
        jid = _uws_id(uws_id)
        control, rest = form.split(await form.fields(request), frozenset({"ACTION"}))
        action = form.one(control, "ACTION")
        if rest or action is None or action.strip().upper() != "DELETE":
            raise InvalidRequest("ACTION: a job takes ACTION=DELETE only" + (
                f" (got {shown(action)})" if action is not None else ""))
        await _svc(request).delete(caller, jid)
        return _see_other(_base(request))

    @router.delete("/{uws_id}", response_class=Response)
    async def uws_delete(request: Request, uws_id: str, caller: CallerDep) -> Response:
        await _svc(request).delete(caller, _uws_id(uws_id))
        return _see_other(_base(request))

    @router.get("/{uws_id}/phase", response_class=PlainTextResponse)
    async def uws_phase(request: Request, uws_id: str, caller: CallerDep) -> Response:
        return _text(phase_of(await _svc(request).view(caller, _uws_id(uws_id))).value)

    @router.post("/{uws_id}/phase", response_class=Response)
    async def uws_set_phase(request: Request, uws_id: str, caller: CallerDep) -> Response:
        """PHASE=RUN or PHASE=ABORT."""
        jid = _uws_id(uws_id)
        control, _ = form.split(await form.fields(request), frozenset({"PHASE"}))
        value = form.one(control, "PHASE")
        asked = (value or "").strip().upper()
        svc = _svc(request)
        if asked == "RUN":
            await svc.run(caller, jid)
        elif asked == "ABORT":
            await svc.abort(caller, jid)
        else:
            raise InvalidRequest(f"PHASE: {shown(value)} is not RUN or ABORT"
                                 if value is not None else "PHASE: missing (RUN or ABORT)")
        return _see_other(_job_url(request, jid))

    @router.get("/{uws_id}/executionduration", response_class=PlainTextResponse)
    async def uws_duration(request: Request, uws_id: str, caller: CallerDep) -> Response:
        return _text(str(_duration_s(await _svc(request).view(caller, _uws_id(uws_id)))))

    @router.post("/{uws_id}/executionduration", response_class=Response)
    async def uws_set_duration(request: Request, uws_id: str, caller: CallerDep
                               ) -> Response:
        jid = _uws_id(uws_id)
        control, _ = form.split(await form.fields(request), frozenset({"EXECUTIONDURATION"}))
        value = form.one(control, "EXECUTIONDURATION")
        if value is None:
            raise InvalidRequest("EXECUTIONDURATION: missing (seconds; 0: the longest)")
        await _svc(request).set_execution_duration(
            caller, jid, form.integer("EXECUTIONDURATION", value, 0, form.MAX_INT))
        return _see_other(_job_url(request, jid))

    @router.get("/{uws_id}/destruction", response_class=PlainTextResponse)
    async def uws_destruction(request: Request, uws_id: str, caller: CallerDep) -> Response:
        rec = (await _svc(request).view(caller, _uws_id(uws_id))).record
        return _text(xml.iso(rec.t_destruction) if rec.t_destruction is not None else "")

    @router.post("/{uws_id}/destruction", response_class=Response)
    async def uws_set_destruction(request: Request, uws_id: str, caller: CallerDep
                                  ) -> Response:
        jid = _uws_id(uws_id)
        control, _ = form.split(await form.fields(request), frozenset({"DESTRUCTION"}))
        value = form.one(control, "DESTRUCTION")
        if value is None:
            raise InvalidRequest("DESTRUCTION: missing (an ISO 8601 date and time)")
        await _svc(request).set_destruction(caller, jid, form.instant("DESTRUCTION", value))
        return _see_other(_job_url(request, jid))

    @router.get("/{uws_id}/quote", response_class=PlainTextResponse)
    async def uws_quote(request: Request, uws_id: str, caller: CallerDep) -> Response:
        svc = _svc(request)
        v = await svc.view(caller, _uws_id(uws_id))
        t = svc.quote(caller, v) if phase_of(v) != Phase.ARCHIVED else None
        return _text(xml.iso(t) if t is not None else "")

    @router.get("/{uws_id}/owner", response_class=PlainTextResponse)
    async def uws_owner(request: Request, uws_id: str, caller: CallerDep) -> Response:
        return _text((await _svc(request).view(caller, _uws_id(uws_id))).record.user)

    @router.get("/{uws_id}/error", response_class=PlainTextResponse)
    async def uws_error(request: Request, uws_id: str, caller: CallerDep) -> Response:
        """The error summary, then the end of the job's output."""
        jid = _uws_id(uws_id)
        svc = _svc(request)
        v = await svc.view(caller, jid)
        err = error_summary(v)
        if err is None:
            raise NotFound(f"job {jid}: no error (phase {phase_of(v).value})")
        out = svc.result_files(v).get(STDOUT_RESULT)
        detail = ""
        if out is not None:
            detail = await asyncio.to_thread(_tail, store_of(svc.ctl.cfg).path(out[0]))
        return _text(err.message + "\n" + (f"--- its output (the end) ---\n{detail}"
                                           if detail else ""))

    @router.get("/{uws_id}/results", response_class=Response)
    async def uws_results(request: Request, uws_id: str, caller: CallerDep) -> Response:
        v = await _svc(request).view(caller, _uws_id(uws_id))
        return _xml(xml.results(_doc(request, caller, v).results))

    @router.get("/{uws_id}/results/{result_id}", response_class=Response)
    async def uws_result(request: Request, uws_id: str, result_id: str, caller: CallerDep
                         ) -> Response:
        jid = _uws_id(uws_id)
        svc = _svc(request)
        found = svc.result_files(await svc.view(caller, jid)).get(result_id)
        if found is None:
            raise NotFound(f"job {jid}: no result {shown(result_id)}")
        return FileResponse(store_of(svc.ctl.cfg).path(found[0]),
                            media_type=xml.Result(result_id, "", 0).mime_type)

    @router.get("/{uws_id}/parameters", response_class=Response)
    async def uws_parameters(request: Request, uws_id: str, caller: CallerDep) -> Response:
        v = await _svc(request).view(caller, _uws_id(uws_id))
        return _xml(xml.parameters(v.record.parameters))

    @router.post("/{uws_id}/parameters", response_class=Response)
    async def uws_set_parameters(request: Request, uws_id: str, caller: CallerDep
                                 ) -> Response:
        """Parameters changed while the job is PENDING."""
        jid = _uws_id(uws_id)
        control, params = form.split(await form.fields(request), CONTROL)
        if control:
            raise InvalidRequest(f"{next(iter(control))}: not a parameter of the job "
                                 f"(POST it to the job's own resource)")
        await _svc(request).set_parameters(caller, jid, params)
        return _see_other(_job_url(request, jid))

    return router


async def _wait(svc: UwsJobs, caller: Caller, v: UwsView, expected: Phase | None,
                deadline: float) -> UwsView:
    """The job once its phase is not `first` any more, or at the deadline."""
    first = phase_of(v)
    if first not in ACTIVE or (expected is not None and first != expected):
        return v
    t_reload = time.monotonic() + RELOAD_S
    while (now := time.monotonic()) < deadline:
        await asyncio.sleep(min(POLL_S, deadline - now))
        job_id = v.record.job_id
        job = svc.ctl.jobs.get(job_id) if job_id is not None else None
        if job is not None and job is not v.job:
            v = UwsView(v.record, job)
        if time.monotonic() >= t_reload or (job_id is not None and job is None):
            v = await svc.view(caller, v.record.id)
            t_reload = time.monotonic() + RELOAD_S
        if phase_of(v) != first:
            return v
    return v


def _tail(path: Any) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - ERROR_DETAIL_BYTES))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
