"""The relay's application: every request of a local caller, forwarded to the
controller with the caller's uid (from the kernel: SO_PEERCRED, api/peercred.py)
and the relay's name and key; the answer streamed back as it comes.

A request's body is read whole before it is sent on (the API's are JSON, small);
the answer is not (a listing may be large, a long poll slow). A caller that goes
away ends its request at the controller too. Whatever the caller sent to name
someone (a token, relay headers, the cluster key) is dropped: the relay speaks
for the uid the kernel gave, and for nobody else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx

from corral.api.peercred import SCOPE_KEY
from corral.model.relay import RELAY_HEADER, RELAY_KEY_HEADER, RELAY_UID_HEADER, STRIPPED

log = logging.getLogger("corral.relay")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                        "te", "trailer", "upgrade", "host", "content-length"})
MAX_BODY_BYTES = 256 * 1024 * 1024  # a request's body, at most
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 600.0  # an answer that takes longer (no long poll does) is given up
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Gone(Exception):
    """The caller closed its connection."""


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class RelayApp:
    """ASGI: forwards each request to `controller` (https://HOST:PORT) as the socket's
    peer uid."""

    def __init__(self, controller: str, name: str, key: str, verify: Any = True,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.controller = controller.rstrip("/")
        self.name = name
        self.key = key
        self.client = httpx.AsyncClient(
            base_url=self.controller, verify=verify, transport=transport,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=32))

    async def close(self) -> None:
        await self.client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        uid = scope.get(SCOPE_KEY)
        path: str = scope["path"]
        if uid is None:  # (served only on a Unix socket)
            await _error(send, 500, "error", "relay: the caller's uid is unknown")
            return
        if path.startswith("/agent/"):
            await _error(send, 403, "forbidden",
                         f"relay {self.name}: the agent endpoints are not relayed")
            return
        try:
            body = await _body(receive)
        except _Gone:
            return
        except ValueError as e:
            await _error(send, 413, "invalid", str(e))
            return
        headers = [(k, v) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in STRIPPED | HOP_BY_HOP]
        headers += [(RELAY_HEADER.encode(), self.name.encode()),
                    (RELAY_KEY_HEADER.encode(), self.key.encode()),
                    (RELAY_UID_HEADER.encode(), str(uid).encode())]
        target = scope.get("raw_path") or path.encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        request = self.client.build_request(scope["method"], target.decode("latin-1"),
                                            headers=headers, content=body)
        started = time.monotonic()
        status = await self._forward(request, receive, send)
        level = logging.INFO if scope["method"] in CHANGING else logging.DEBUG
        log.log(level, "uid %s %s %s -> %s (%.0f ms)", uid, scope["method"], path,
                status, (time.monotonic() - started) * 1000)

    async def _forward(self, request: httpx.Request, receive: Receive, send: Send) -> int:
        """Send on, stream the answer back -> its status (0: the caller went away)."""
        gone = asyncio.ensure_future(_disconnected(receive))
        upstream = asyncio.ensure_future(self.client.send(request, stream=True))
        try:
            await asyncio.wait({gone, upstream}, return_when=asyncio.FIRST_COMPLETED)
            if not upstream.done():
                upstream.cancel()
                return 0
            try:
                answer = upstream.result()
            except httpx.TimeoutException:
                await _error(send, 504, "unavailable",
                             f"relay {self.name}: no answer from the controller at "
                             f"{self.controller} in time")
                return 504
            except httpx.HTTPError as e:
                await _error(send, 503, "unavailable",
                             f"relay {self.name}: cannot reach the controller at "
                             f"{self.controller}: {e or type(e).__name__}")
                return 503
            try:
                out = [(k, v) for k, v in answer.headers.raw
                       if k.decode("latin-1").lower() not in HOP_BY_HOP - {"content-length"}]
                await send({"type": "http.response.start", "status": answer.status_code,
                            "headers": out})
                async for piece in answer.aiter_raw():
                    if gone.done():
                        break
                    await send({"type": "http.response.body", "body": piece,
                                "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            except httpx.HTTPError as e:  # the answer broke off midway: so does ours
                log.warning("relay: the controller's answer broke off: %s", e)
                raise
            finally:
                await answer.aclose()
            return answer.status_code
        finally:
            gone.cancel()


async def _body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise ValueError(f"request body: over the relay's limit of {MAX_BODY_BYTES} bytes")
        if not message.get("more_body"):
            return bytes(body)


async def _disconnected(receive: Receive) -> None:
    """Returns once the caller has closed its connection."""
    while (await receive())["type"] != "http.disconnect":
        pass
