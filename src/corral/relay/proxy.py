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
FAILOVER_S = 30.0  # with several controllers: how long a request looks for the leader
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Gone(Exception):
    """The caller closed its connection."""


async def _error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _Unreached(Exception):
    """No controller took the request (so it did nothing): the message says why."""


def _not_leader(data: bytes) -> tuple[bool, str | None]:
    """Is this 503's body a follower's `not_leader`? -> (it is, the leader it names)."""
    try:
        body = json.loads(data)
    except ValueError:
        return False, None
    if not isinstance(body, dict) or body.get("error") != "not_leader":
        return False, None
    leader = body.get("leader")
    return True, leader.rstrip("/") if isinstance(leader, str) else None


class RelayApp:
    """ASGI: forwards each request to the controller (https://HOST:PORT; several,
    comma separated, for controllers that share a store: the one leading) as the
    socket's peer uid."""

    def __init__(self, controller: str, name: str, key: str, verify: Any = True,
                 transport: httpx.AsyncBaseTransport | None = None,
                 failover_s: float = FAILOVER_S) -> None:
        self.urls = [u.strip().rstrip("/") for u in controller.split(",") if u.strip()]
        self.current = 0
        self.name = name
        self.key = key
        self.failover_s = failover_s
        self.client = httpx.AsyncClient(
            verify=verify, transport=transport,
            timeout=httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=32))

    @property
    def controller(self) -> str:
        """The controller requests go to now."""
        return self.urls[self.current]

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
        started = time.monotonic()
        status = await self._forward(scope["method"], target.decode("latin-1"), headers,
                                     body, receive, send)
        level = logging.INFO if scope["method"] in CHANGING else logging.DEBUG
        log.log(level, "uid %s %s %s -> %s (%.0f ms)", uid, scope["method"], path,
                status, (time.monotonic() - started) * 1000)

    async def _upstream(self, method: str, target: str, headers: list[tuple[bytes, bytes]],
                        body: bytes) -> tuple[httpx.Response, bytes | None]:
        """The answer of the controller that leads -> (the answer, its body when it
        was read here). A controller that does not take the connection, or a
        follower (503 not_leader), did nothing: the request goes to the leader it
        names, or the next, for up to failover_s. Raises _Unreached."""
        deadline = time.monotonic() + self.failover_s
        pause_s, tried = 0.05, 0
        while True:
            url = self.controller
            request = self.client.build_request(method, url + target, headers=headers,
                                                content=body)
            hint: str | None = None
            try:
                answer = await self.client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as e:
                why = f"cannot reach the controller at {url}: {e or type(e).__name__}"
            else:
                if answer.status_code != 503 or len(self.urls) == 1:
                    return answer, None
                try:
                    data = await answer.aread()
                finally:
                    await answer.aclose()
                following, hint = _not_leader(data)
                if not following:
                    return answer, data
                why = f"the controller at {url} does not lead"
            if len(self.urls) == 1 or time.monotonic() >= deadline:
                more = f" (no leader found among {len(self.urls)} controllers in " \
                       f"{self.failover_s:g} s)" if len(self.urls) > 1 else ""
                raise _Unreached(why + more)
            log.info("relay: %s; trying %s", why, hint if hint in self.urls else "the next")
            self.current = self.urls.index(hint) if hint in self.urls and hint != url \
                else (self.current + 1) % len(self.urls)
            tried += 1
            if tried % len(self.urls) == 0:  # a whole round: a take-over is under way
                await asyncio.sleep(pause_s)
                pause_s = min(0.5, pause_s * 2)

    async def _forward(self, method: str, target: str, headers: list[tuple[bytes, bytes]],
                       body: bytes, receive: Receive, send: Send) -> int:
        """Send on, stream the answer back -> its status (0: the caller went away)."""
        gone = asyncio.ensure_future(_disconnected(receive))
        upstream = asyncio.ensure_future(self._upstream(method, target, headers, body))
        try:
            await asyncio.wait({gone, upstream}, return_when=asyncio.FIRST_COMPLETED)
            if not upstream.done():
                upstream.cancel()
                return 0
            try:
                answer, data = upstream.result()
            except _Unreached as e:
                await _error(send, 503, "unavailable", f"relay {self.name}: {e}")
                return 503
            except httpx.TimeoutException:
                await _error(send, 504, "unavailable",
                             f"relay {self.name}: no answer from the controller at "
                             f"{self.controller} in time")
                return 504
            except httpx.HTTPError as e:  # lost after it was sent: it may have been done
                await _error(send, 503, "unavailable",
                             f"relay {self.name}: the connection to the controller at "
                             f"{self.controller} was lost: {e or type(e).__name__}")
                return 503
            try:
                out = [(k, v) for k, v in answer.headers.raw
                       if k.decode("latin-1").lower() not in HOP_BY_HOP - {"content-length"}]
                await send({"type": "http.response.start", "status": answer.status_code,
                            "headers": out})
                pieces = [data] if data is not None else answer.aiter_raw()
                async for piece in _iterate(pieces):
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


async def _iterate(pieces: Any) -> Any:
    """An answer's body pieces, from a list or an async iterator."""
    if isinstance(pieces, list):
        for piece in pieces:
            yield piece
    else:
        async for piece in pieces:
            yield piece


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
