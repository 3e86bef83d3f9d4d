"""A request id for every REST request: the client's `X-Request-ID` when it is a
short printable token, else a new one. It is in the context of everything the
request does (the log lines' `request_id`, corral.logs) and echoed in the answer's
`X-Request-ID` header. A plain ASGI middleware: no work beyond a header."""

from __future__ import annotations

import re
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.logs import request_id_var

HEADER = b"x-request-id"
MAX_LEN = 128
_TOKEN = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,%d}$" % MAX_LEN)


def new_request_id() -> str:
    return secrets.token_hex(8)


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's id if it is usable (letters, digits, `._:@/+=-`, at most 128), else
    a new one: a log line never carries what a client could use to forge others."""
    for name, value in headers:
        if name == HEADER and _TOKEN.match(value):
            return value.decode("ascii")
    return new_request_id()


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope.get("headers", []))
        raw = rid.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != HEADER]
                headers.append((HEADER, raw))
                message = {**message, "headers": headers}
            await send(message)

        token = request_id_var.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
