"""The UWS 1.1 REST binding under the configured path (uws.path, default /uws), with
the same callers as the rest of the API (api/auth.py). Errors are one line of
text/plain with the status of the error table (api/errors.py)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine
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
from corral.services.uws import template
from corral.services.uws.jobs import UwsJobs, UwsView
from corral.services.uws.template import STDOUT_RESULT
from corral.store.uws import Upload, UwsRecord

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
    """The job list's URL: the configured public one (a controller behind a proxy),
    else the request's own."""
    cfg = request.app.state.controller.cfg.uws
    if cfg.public_url:
        return str(cfg.public_url).rstrip("/")
    path: str = cfg.path
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
        t_destruction=rec.t_destruction, parameters=_shown_parameters(href, rec),
        by_reference=frozenset(rec.uploads),
        results=tuple(xml.Result(rid, f"{href}/results/{rid}", size)
                      for rid, (_, size) in sorted(svc.result_files(v).items())),
        error=(err.transient, err.message) if err else None,
        corral_job_id=rec.job_id)


def _shown_parameters(href: str, rec: UwsRecord) -> dict[str, str]:
    """The parameters as the documents show them: a file parameter by the URL of its
    file (GET it back there)."""
    return {**rec.parameters, **{k: f"{href}/parameters/{k}" for k in rec.uploads}}


def _max_form_bytes(svc: UwsJobs) -> int:
    """A multipart/form-data form's limit: its files' (a job's input files) and fields."""
    return int(svc.ctl.cfg.sandboxes.max_job_bytes) + form.MAX_BODY_BYTES


async def _stored(svc: UwsJobs, files: list[form.FilePart]) -> dict[str, Upload]:
    """The form's files, each a declared file parameter, in the sandbox store."""
    names = template.checked_files(svc.cfg, (f.field for f in files))
    return {key: await svc.store_file(key, f.filename, f.file)
            for key, f in zip(names, files, strict=True)}


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


async def _set_field(request: Request, uws_id: str, name: str, expected: str,
                     apply: Callable[[UwsJobs, int, str], Awaitable[None]]) -> Response:
    """A job's setter (POST to one of its resources): the form's field `name` (other
    fields are not read), "`name`: missing (`expected`)" without it, given to
    `apply(service, job id, value)`; then a redirection to the job."""
    jid = _uws_id(uws_id)
    control, _ = form.split(await form.fields(request), frozenset({name}))
    value = form.one(control, name)
    if value is None:
        raise InvalidRequest(f"{name}: missing ({expected})")
    await apply(_svc(request), jid, value)
    return _see_other(_job_url(request, jid))


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
        svc = _svc(request)
        async with form.parsed(request, _max_form_bytes(svc)) as (pairs, files):
            control, params = form.split(pairs, CONTROL)
            for f in files:
                if f.field.upper() in CONTROL:
                    raise InvalidRequest(f"{f.field}: a control parameter, not a file")
            phase = form.one(control, "PHASE")
            if phase is not None and phase.strip().upper() != "RUN":
                raise InvalidRequest(f"PHASE: {shown(phase)} cannot create a job "
                                     f"(RUN, or leave it out)")
            if control.get("ACTION"):
                raise InvalidRequest("ACTION: not for the job list (DELETE is a job's)")
            duration = form.one(control, "EXECUTIONDURATION")
            destruction = form.one(control, "DESTRUCTION")
            run_id = form.one(control, "RUNID")
            asked_s = (form.integer("EXECUTIONDURATION", duration, 0, form.MAX_INT)
                       if duration is not None else None)
            until = form.instant("DESTRUCTION", destruction) if destruction else None
            run_id = form.checked_value("RUNID", run_id, 255) if run_id else None
            template.checked_files(svc.cfg, (f.field for f in files))  # before storing
            uploads = await _stored(svc, files)
        uws_id = await svc.create(caller, params, run_id=run_id,
                                  execution_duration_s=asked_s, destruction=until,
                                  run=phase is not None, files=uploads)
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
        async def to(svc: UwsJobs, jid: int, value: str) -> None:
            asked = value.strip().upper()
            if asked == "RUN":
                await svc.run(caller, jid)
            elif asked == "ABORT":
                await svc.abort(caller, jid)
            else:
                raise InvalidRequest(f"PHASE: {shown(value)} is not RUN or ABORT")
        return await _set_field(request, uws_id, "PHASE", "RUN or ABORT", to)

    @router.get("/{uws_id}/executionduration", response_class=PlainTextResponse)
    async def uws_duration(request: Request, uws_id: str, caller: CallerDep) -> Response:
        return _text(str(_duration_s(await _svc(request).view(caller, _uws_id(uws_id)))))

    @router.post("/{uws_id}/executionduration", response_class=Response)
    async def uws_set_duration(request: Request, uws_id: str, caller: CallerDep
                               ) -> Response:
        return await _set_field(
            request, uws_id, "EXECUTIONDURATION", "seconds; 0: the longest",
            lambda svc, jid, value: svc.set_execution_duration(
                caller, jid, form.integer("EXECUTIONDURATION", value, 0, form.MAX_INT)))

    @router.get("/{uws_id}/destruction", response_class=PlainTextResponse)
    async def uws_destruction(request: Request, uws_id: str, caller: CallerDep) -> Response:
        rec = (await _svc(request).view(caller, _uws_id(uws_id))).record
        return _text(xml.iso(rec.t_destruction) if rec.t_destruction is not None else "")

    @router.post("/{uws_id}/destruction", response_class=Response)
    async def uws_set_destruction(request: Request, uws_id: str, caller: CallerDep
                                  ) -> Response:
        return await _set_field(
            request, uws_id, "DESTRUCTION", "an ISO 8601 date and time",
            lambda svc, jid, value: svc.set_destruction(
                caller, jid, form.instant("DESTRUCTION", value)))

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
        jid = _uws_id(uws_id)
        rec = (await _svc(request).view(caller, jid)).record
        return _xml(xml.parameters(_shown_parameters(_job_url(request, jid), rec),
                                   frozenset(rec.uploads)))

    @router.post("/{uws_id}/parameters", response_class=Response)
    async def uws_set_parameters(request: Request, uws_id: str, caller: CallerDep
                                 ) -> Response:
        """Parameters changed while the job is PENDING (a form; its files are file
        parameters)."""
        jid = _uws_id(uws_id)
        svc = _svc(request)
        async with form.parsed(request, _max_form_bytes(svc)) as (pairs, files):
            control, params = form.split(pairs, CONTROL)
            if control:
                raise InvalidRequest(f"{next(iter(control))}: not a parameter of the job "
                                     f"(POST it to the job's own resource)")
            template.checked_files(svc.cfg, (f.field for f in files))
            await svc.check_pending(caller, jid)  # (before any file is stored)
            uploads = await _stored(svc, files)
        await svc.set_parameters(caller, jid, params, uploads)
        return _see_other(_job_url(request, jid))

    @router.get("/{uws_id}/parameters/{name}", response_class=Response)
    async def uws_parameter(request: Request, uws_id: str, name: str, caller: CallerDep
                            ) -> Response:
        """One parameter's value (text), or a file parameter's file."""
        svc = _svc(request)
        _, value = await svc.parameter(caller, _uws_id(uws_id), name)
        if isinstance(value, Upload):
            return FileResponse(store_of(svc.ctl.cfg).path(value.sha256),
                                media_type="application/octet-stream",
                                filename=value.filename)
        return _text(value)

    @router.post("/{uws_id}/parameters/{name}", response_class=Response)
    async def uws_set_parameter(request: Request, uws_id: str, name: str, caller: CallerDep
                                ) -> Response:
        """One parameter set while the job is PENDING: a form whose only field (or
        file) is that parameter."""
        jid = _uws_id(uws_id)
        svc = _svc(request)
        key = _parameter_name(svc, name)
        async with form.parsed(request, _max_form_bytes(svc)) as (pairs, files):
            given = [*(p[0] for p in pairs), *(f.field for f in files)]
            other = next((g for g in given if g.lower() != key.lower()), None)
            if other is not None:
                raise InvalidRequest(f"{shown(other)}: this resource sets parameter "
                                     f"{key!r} only")
            if not given:
                raise InvalidRequest(f"{key}: missing (a form field {key}=VALUE, or a file "
                                     f"named {key})")
            template.checked_files(svc.cfg, (f.field for f in files))
            await svc.check_pending(caller, jid)
            uploads = await _stored(svc, files)
        await svc.set_parameters(caller, jid, pairs, uploads)
        return _see_other(_job_url(request, jid))

    @router.put("/{uws_id}/parameters/{name}", response_class=Response)
    async def uws_put_parameter(request: Request, uws_id: str, name: str, caller: CallerDep
                                ) -> Response:
        """One parameter set while the job is PENDING: the body is its value (UTF-8
        text), or a file parameter's file."""
        jid = _uws_id(uws_id)
        svc = _svc(request)
        key = _parameter_name(svc, name)
        await svc.check_pending(caller, jid)
        if svc.cfg.parameters[key].file:
            limit = store_of(svc.ctl.cfg).max_file_bytes
            with tempfile.SpooledTemporaryFile(max_size=form.MAX_BODY_BYTES) as tmp:
                await _spool(request, tmp, limit, key)
                tmp.seek(0)
                upload = await svc.store_file(key, key, tmp)  # type: ignore[arg-type]
            await svc.set_parameters(caller, jid, [], {key: upload})
        else:
            raw = await form.body(request)
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidRequest(f"{key}: the body is not UTF-8") from None
            await svc.set_parameters(caller, jid, [(key, form.checked_value(key, value))])
        return _see_other(_job_url(request, jid))

    return router


def _parameter_name(svc: UwsJobs, name: str) -> str:
    key = template.canonical_name(svc.cfg, name)
    if key is None:
        known = ", ".join(sorted(svc.cfg.parameters)) or "none"
        raise NotFound(f"parameter {shown(name)}: not a parameter of this service "
                       f"(it takes: {known})")
    return key


async def _spool(request: Request, out: Any, limit: int, key: str) -> None:
    """The request's body into `out`, at most `limit` bytes."""
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise InvalidRequest(f"{key}: {announced} bytes, over the limit of {limit} per file "
                             f"(sandboxes.max_file_bytes)")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise InvalidRequest(f"{key}: over the limit of {limit} bytes per file "
                                 f"(sandboxes.max_file_bytes)")
        out.write(chunk)


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
