"""The web dashboard the controller serves under /ui (docs/dashboard.md): server-rendered
pages (Jinja2) that refresh themselves, plots drawn by a vendored Chart.js, the same
callers and roles as the REST API plus a browser sign-in."""

from __future__ import annotations

from fastapi import FastAPI

from corral.web import login, routes
from corral.web.login import PendingLogins
from corral.web.provider import ProviderClient
from corral.web.session import Sessions


def install(app: FastAPI) -> None:
    """Mount the dashboard on the API's application (app.state.controller set)."""
    app.state.web_sessions = Sessions()
    app.state.web_logins = PendingLogins()
    app.state.web_provider = ProviderClient()
    app.include_router(login.router)
    app.include_router(routes.router)
