"""A minimal real HTTP server speaking the controller side of the agent protocol.

For the agent's protocol-loop unit tests only: it records every request and serves
the orders a test queues. End-to-end tests use the real controller (tests/e2e).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class FakeController:
    def __init__(self, *, uds: str | None = None, port: int | None = None,
                 heartbeat_s: float = 0.5) -> None:
        self.uds, self.port = uds, port
        self.heartbeat_s = heartbeat_s
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.orders: list[dict[str, Any]] = []
        self.boot_ids: set[str] = set()
        self.fail_reports = False
        self.lease_s: float | None = None  # granted in register answers when set
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- test side ---------------------------------------------------------------------
    def order(self, order: dict[str, Any]) -> None:
        with self.lock:
            self.orders.append(order)

    def seen(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body, _ in self.requests if p == path]

    def headers(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [h for p, _, h in self.requests if p == path]

    def reports(self) -> dict[int, dict[str, Any]]:
        """Every report received, by job id, from report and register messages."""
        out: dict[int, dict[str, Any]] = {}
        for body in self.seen("/agent/v1/report"):
            out.update({r["job_id"]: r for r in body["reports"]})
        for body in self.seen("/agent/v1/register"):
            out.update({r["job_id"]: r for r in body["finished"]})
        return out

    def forget_agents(self) -> None:
        with self.lock:
            self.boot_ids.clear()

    def start(self) -> FakeController:
        config = uvicorn.Config(self._app(), uds=self.uds, port=self.port or 8000,
                                host="127.0.0.1", log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = self._thread = None

    # -- server side -------------------------------------------------------------------
    def _app(self) -> Starlette:
        async def record(request: Request) -> dict[str, Any]:
            body = await request.json()
            with self.lock:
                self.requests.append((request.url.path, body, dict(request.headers)))
            return body  # type: ignore[no-any-return]

        async def register(request: Request) -> JSONResponse:
            body = await record(request)
            with self.lock:
                self.boot_ids.add(body["boot_id"])
                orders, self.orders = self.orders, []
            lease = {} if self.lease_s is None else {"lease_s": self.lease_s}
            return JSONResponse({"heartbeat_s": self.heartbeat_s, "orders": orders, **lease})

        async def poll(request: Request) -> JSONResponse:
            body = await record(request)
            deadline = time.monotonic() + float(body["wait_s"])
            while True:
                with self.lock:
                    if body["boot_id"] not in self.boot_ids:
                        return JSONResponse({"error": "register first"}, status_code=409)
                    if self.orders or time.monotonic() >= deadline:
                        orders, self.orders = self.orders, []
                        return JSONResponse({"orders": orders})
                await asyncio.sleep(0.005)

        async def report(request: Request) -> JSONResponse:
            await record(request)
            if self.fail_reports:
                return JSONResponse({"error": "boom"}, status_code=500)
            return JSONResponse({})

        return Starlette(routes=[
            Route("/agent/v1/register", register, methods=["POST"]),
            Route("/agent/v1/poll", poll, methods=["POST"]),
            Route("/agent/v1/report", report, methods=["POST"]),
        ])
