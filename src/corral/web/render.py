"""Server-rendered pages: the Jinja2 templates beside this module, what every page
gets (who is looking, the navigation, how often to refresh), and errors as pages."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from corral import __version__
from corral.api.errors import status_for
from corral.model.errors import CorralError
from corral.services.identity import Caller

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
# part of the static files' URLs, so that a browser may keep them for good
STATIC_VERSION = hashlib.sha256(
    b"".join(p.read_bytes() for p in sorted(STATIC_DIR.iterdir()) if p.is_file())
).hexdigest()[:12]

NAV = (("queue", "/ui/", "Queue"), ("nodes", "/ui/nodes", "Nodes & partitions"),
       ("plots", "/ui/plots", "Plots"))
SECURITY_HEADERS = {
    # the pages' own scripts and styles only; nothing framed, nothing sniffed
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page(request: Request, template: str, caller: Caller | None, active: str = "",
         status_code: int = 200, **context: Any) -> HTMLResponse:
    web = request.app.state.controller.cfg.web
    ctx = {"caller": caller, "nav": NAV, "active": active, "refresh_s": web.refresh_s,
           "static": f"/ui/static/{STATIC_VERSION}", "version": __version__,
           "signed_in_by_cookie": caller is not None and caller.subject is not None,
           **context}
    answer = templates.TemplateResponse(request, template, ctx, status_code=status_code)
    answer.headers.update(SECURITY_HEADERS)
    return answer


def fragment(request: Request, template: str, etag: str, **context: Any) -> Response:
    """A part of a page, as the page's script fetches it to refresh itself."""
    answer = templates.TemplateResponse(request, template, context)
    answer.headers.update(SECURITY_HEADERS)
    answer.headers["ETag"] = etag
    return answer


def not_modified(request: Request, etag: str) -> Response | None:
    """304 when the browser already has this version."""
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": "no-store"})
    return None


def error_page(request: Request, err: CorralError, caller: Caller | None) -> HTMLResponse:
    return page(request, "error.html", caller, status_code=status_for(err),
                message=err.message)
