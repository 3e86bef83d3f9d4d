"""The FastAPI application: routers, the error table, the controller in app.state."""

from __future__ import annotations

from fastapi import FastAPI

from corral import __version__, web
from corral.api import (
    audit,
    errors,
    metrics,
    routes_accounts,
    routes_auth,
    routes_batch,
    routes_cluster,
    routes_credentials,
    routes_docs,
    routes_jobs,
    routes_leader,
    routes_reports,
    routes_sandboxes,
    routes_steps,
)
from corral.api.audit import AuditMiddleware
from corral.api.oidc import TokenVerifier
from corral.api.readpath import PublishOnResponse
from corral.api.request_ids import RequestIdMiddleware
from corral.api.uws.routes import make_router as uws_router
from corral.services.agents import AgentService
from corral.services.controller import Controller
from corral.services.pilot_auth import PilotKeys
from corral.services.rate_limit import RateLimiter
from corral.services.relays import Relays


def create_app(ctl: Controller) -> FastAPI:
    app = FastAPI(
        title="corral",
        version=__version__,
        description="The corral workload manager's REST API (docs/specs/05-rest-api.md).",
        openapi_url=None, docs_url=None, redoc_url=None,  # routes_docs serves them
    )
    app.state.controller = ctl
    app.state.tokens = TokenVerifier(ctl.cfg.auth.issuers)
    app.state.relays = Relays.of(ctl.cfg)  # (their keys read now: a bad file stops the start)
    app.state.agents = AgentService(ctl)
    app.state.pilot_keys = PilotKeys.of(ctl.cfg)  # the sites' pilots' keys (docs/pilots.md)
    limits = ctl.cfg.rate_limit
    app.state.rate_limiter = RateLimiter(limits.bucket_size, limits.refill_per_s) \
        if limits.enabled else None
    errors.install(app)
    app.add_middleware(AuditMiddleware)  # (inside: it sees the request id)
    app.add_middleware(RequestIdMiddleware)  # X-Request-ID, in the log lines' context
    app.include_router(routes_batch.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_steps.router)
    app.include_router(routes_cluster.router)
    app.include_router(routes_auth.router)
    app.include_router(routes_credentials.router)
    app.include_router(routes_docs.router)
    app.include_router(routes_accounts.router)
    app.include_router(routes_reports.router)
    app.include_router(routes_leader.router)
    app.include_router(routes_sandboxes.router)
    app.state.metrics = metrics.registry_for(ctl)
    app.include_router(metrics.router)
    app.include_router(audit.router)
    if ctl.cfg.uws.enabled:  # the IVOA UWS 1.1 job list (docs/uws.md)
        app.include_router(uws_router(ctl.cfg.uws.path))
    if ctl.cfg.web.enabled:
        web.install(app)  # the dashboard under /ui (docs/dashboard.md)
    # what changed is published before any answer leaves (read-your-writes)
    app.add_middleware(PublishOnResponse, publisher=ctl.publisher)
    return app
