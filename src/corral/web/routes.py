"""The dashboard's pages under /ui (docs/dashboard.md): the queue, a job, nodes and
partitions, plots; the parts of them the pages fetch to refresh themselves (with an
ETag, so that a page whose data did not change costs a 304); the static files.

Read-only: the dashboard changes nothing on the cluster (the CLI and the API do).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from corral.api.errors import status_for
from corral.model.errors import CorralError, InvalidRequest
from corral.model.jobid import parse_job_id
from corral.services.controller import Controller
from corral.services.identity import Caller
from corral.web import views
from corral.web.history import PlotCache
from corral.web.render import STATIC_DIR, STATIC_VERSION, error_page, fragment, not_modified, page
from corral.web.series import PERIODS
from corral.web.session import LoginNeeded, web_caller

router = APIRouter(prefix="/ui", include_in_schema=False)
HISTORY_READ_MAX = 5000  # finished jobs read for one history page at most
Build = Callable[[Caller], Awaitable[Response]]


def _ctl(request: Request) -> Controller:
    ctl: Controller = request.app.state.controller
    return ctl


async def _page(request: Request, build: Build) -> Response:
    """A whole page: a browser with no identity is sent to sign in; a refusal or a
    bad parameter is a page saying so in one line."""
    caller: Caller | None = None
    try:
        caller = await web_caller(request)
        return await build(caller)
    except LoginNeeded:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?next={quote(here, safe='')}", status_code=303)
    except CorralError as e:
        return error_page(request, e, caller)


async def _part(request: Request, build: Build) -> Response:
    """A part a page fetches: errors as one line of text (401: sign in again)."""
    try:
        return await build(await web_caller(request))
    except CorralError as e:
        return Response(e.message, status_code=status_for(e), media_type="text/plain",
                        headers={"Cache-Control": "no-store"})


def _etag(*parts: object) -> str:
    digest = hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


@router.get("")
async def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=308)


QueryText = Annotated[str, Query(max_length=1024)]


@router.get("/")
async def queue_page(request: Request, user: QueryText = "", state: QueryText = "",
                     partition: QueryText = "", name: QueryText = "", mine: bool = False,
                     history: bool = False,
                     days: Annotated[int, Query(ge=1, le=366)] = 1) -> Response:
    async def build(caller: Caller) -> Response:
        q = views.QueueQuery.parse(caller.user if mine else user, state, partition, name)
        form = {"user": user, "state": state, "partition": partition, "name": name,
                "mine": mine, "history": history, "days": days}
        ctl = _ctl(request)
        if history:
            jobs = await ctl.history(
                caller, users=sorted(q.users) or None, states=sorted(q.states) or None,
                partitions=sorted(q.partitions) or None, names=sorted(q.names) or None,
                t_submit_min=time.time() - days * 86400, limit=HISTORY_READ_MAX)
            rows = views.history_rows(jobs, ctl, caller)
            view = views.QueueView(rows[:views.MAX_ROWS], len(rows))
            live = None
        else:
            view = views.queue(ctl.publisher.snapshot(), caller, q)
            live = f"/ui/fragments/queue?{request.url.query}"
        return page(request, "queue.html", caller, "queue", view=view, form=form,
                    live=live, states=views.STATES, max_rows=views.MAX_ROWS,
                    partitions=[p.name for p in ctl.cfg.partitions])
    return await _page(request, build)


@router.get("/fragments/queue")
async def queue_part(request: Request, user: QueryText = "", state: QueryText = "",
                     partition: QueryText = "", name: QueryText = "",
                     mine: bool = False) -> Response:
    async def build(caller: Caller) -> Response:
        q = views.QueueQuery.parse(caller.user if mine else user, state, partition, name)
        snap = _ctl(request).publisher.snapshot()
        # while jobs run, their elapsed times move: a new version each minute at least
        minute = int(time.time() // 60) if snap.gauges.jobs_by_state.get("RUNNING") else 0
        etag = _etag("queue", views.generation(snap), minute, caller, q)
        unchanged = not_modified(request, etag)
        if unchanged is not None:
            return unchanged
        return fragment(request, "_queue_table.html", etag,
                        view=views.queue(snap, caller, q), max_rows=views.MAX_ROWS)
    return await _part(request, build)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, job_id: str) -> Response:
    async def build(caller: Caller) -> Response:
        jid = parse_job_id(job_id, "job_id")
        data = await views.job_page(_ctl(request), caller, jid)
        final = data["job"]["state"] in views.FINAL_STATES
        return page(request, "job.html", caller, "queue", live=None if final
                    else f"/ui/fragments/jobs/{jid}", **data)
    return await _page(request, build)


@router.get("/fragments/jobs/{job_id}")
async def job_part(request: Request, job_id: str) -> Response:
    async def build(caller: Caller) -> Response:
        jid = parse_job_id(job_id, "job_id")
        data = await views.job_page(_ctl(request), caller, jid)
        etag = _etag("job", caller, data["job"], data["timeline"]["events"],
                     data["explanation"], [(o.path, o.size_bytes, o.note)
                                           for o in data["outputs"]])
        unchanged = not_modified(request, etag)
        if unchanged is not None:
            return unchanged
        return fragment(request, "_job_live.html", etag, **data)
    return await _part(request, build)


@router.get("/nodes")
async def nodes_page(request: Request) -> Response:
    async def build(caller: Caller) -> Response:
        ctl = _ctl(request)
        data = views.cluster(ctl, ctl.publisher.snapshot(), caller)
        return page(request, "nodes.html", caller, "nodes", live="/ui/fragments/nodes", **data)
    return await _page(request, build)


@router.get("/fragments/nodes")
async def nodes_part(request: Request) -> Response:
    async def build(caller: Caller) -> Response:
        ctl = _ctl(request)
        data = views.cluster(ctl, ctl.publisher.snapshot(), caller)
        # what the page shows but the age of each node's last report, which always moves
        etag = _etag("nodes", caller, {k: v for k, v in data.items() if k != "nodes"},
                     [{k: v for k, v in n.items() if k != "last_seen"} for n in data["nodes"]])
        unchanged = not_modified(request, etag)
        if unchanged is not None:
            return unchanged
        return fragment(request, "_nodes_tables.html", etag, **data)
    return await _part(request, build)


Period = Annotated[str, Query(max_length=16)]


def _plots(request: Request) -> PlotCache:
    cache: PlotCache | None = getattr(request.app.state, "web_plots", None)
    if cache is None:
        cache = request.app.state.web_plots = PlotCache(_ctl(request))
    return cache


@router.get("/plots")
async def plots_page(request: Request, period: Period = "day") -> Response:
    async def build(caller: Caller) -> Response:
        if period not in PERIODS:
            raise InvalidRequest(f"period: {period!r} is not one of {', '.join(PERIODS)}")
        return page(request, "plots.html", caller, "plots", period=period,
                    periods=list(PERIODS), data_url=f"/ui/plots/data?period={period}")
    return await _page(request, build)


@router.get("/plots/data")
async def plots_data(request: Request, period: Period = "day") -> Response:
    async def build(caller: Caller) -> Response:
        cache = _plots(request)
        computed = await cache.get(period)
        sees_all = _ctl(request).access.sees_all(caller)
        etag = _etag("plots", computed.generation, period, caller.uid, sees_all)
        unchanged = not_modified(request, etag)
        if unchanged is not None:
            return unchanged
        return JSONResponse(await cache.data(period, caller, sees_all),
                            headers={"ETag": etag, "Cache-Control": "no-store"})
    return await _part(request, build)


_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".md": "text/plain"}


@router.get("/static/{version}/{name}")
async def static(version: str, name: str) -> Response:
    """The pages' scripts, styles and the charting library (with its licence)."""
    path = STATIC_DIR / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response("no such file", status_code=404, media_type="text/plain")
    cache = ("public, max-age=31536000, immutable" if version == STATIC_VERSION
             else "no-cache")
    return FileResponse(path, media_type=_STATIC_TYPES.get(path.suffix, "text/plain"),
                        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})
