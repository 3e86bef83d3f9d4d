"""The read path: reads answered from the published read model, off the writer's loop.

The controller's state is changed only on its own event loop (the writer's). The
HTTP server runs on another loop, in the process's main thread: it answers
listings (GET /v1/jobs, not history), one-job queries of the jobs in the queue and
/metrics from the latest published snapshot (services/snapshot.py), pinned to the
request, for callers on the Unix socket (a bearer token is verified on the writer's
loop, which owns the verifier's connections), and hands every other request to the
writer's loop whole (its body read first) and sends back the answer it makes. A
read thus never waits for a scheduling pass or a commit, and costs the writer's
loop nothing.

Read-your-writes: the writer's loop publishes what changed before any answer
leaves it (PublishOnResponse), so the next request of a client that was answered
finds its change in the snapshot it is served from. With several controllers the
answer also says the newest event of the log as of then (X-Corral-Seq), which
the client shows a follower it reads from next (api/follower_reads.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

from corral.api import zerocopy
from corral.api.auth import user_caller
from corral.api.peercred import SCOPE_KEY
from corral.api.request_ids import HEADER, request_id_of
from corral.model.errors import CorralError
from corral.services.snapshot import SNAPSHOT_KEY, Filters, Publisher, Snapshot

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class PublishOnResponse:
    """ASGI middleware of the API: on the writer's loop, publish what changed
    before an answer starts to leave."""

    def __init__(self, app: App, publisher: Publisher) -> None:
        self.app = app
        self.publisher = publisher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.publisher.on_writer():
            await self.app(scope, receive, send)
            return
        publisher = self.publisher
        writer = publisher.ctl.writer

        async def publishing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                publisher.publish()
                if writer.last_seq:  # (with an election: api/follower_reads.py)
                    message = {**message, "headers": [
                        *message.get("headers", ()),
                        (b"x-corral-seq", str(writer.last_seq).encode("ascii"))]}
            await send(message)
        await self.app(scope, receive, publishing_send)


_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})  # as the API reads a bool


def _snapshot_lists(query: bytes, snap: Snapshot) -> bool:
    """Does the snapshot answer a listing with this query? Not history (the store's),
    nor one by job id while arrays have pending rests (Snapshot.answers)."""
    by_id = False
    for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if k == "history" and v.lower() in _TRUE:
            return False
        by_id = by_id or (k == "id" and any(v.split(",")))
    return snap.answers(Filters(ids=frozenset((0,)) if by_id else frozenset()))


class ReadPath:
    """The HTTP server's application (on its own loop): reads from the snapshot,
    everything else on the writer's loop."""

    def __init__(self, app: App, publisher: Publisher,
                 writer_loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.publisher = publisher
        self.writer_loop = writer_loop

    def _local(self, scope: Scope) -> bool:
        """Can the snapshot answer this request? (It is then pinned to it.)"""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        if scope.get(SCOPE_KEY) is None:  # a bearer token: verified on the writer's loop
            return False
        path: str = scope["path"]
        snap = self.publisher.current
        if path == "/v1/jobs":
            if not _snapshot_lists(scope.get("query_string", b""), snap):
                return False
        elif path.startswith("/v1/jobs/"):
            tail = path[len("/v1/jobs/"):]
            if not (tail.isascii() and tail.isdigit() and len(tail) < 19) \
                    or snap.job(int(tail)) is None:
                return False
        elif path != "/metrics":
            return False
        scope[SNAPSHOT_KEY] = snap
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if self._local(scope):
            if not await self._plain(scope, send):
                await self.app(scope, receive, send)
            return
        # the whole request to the writer's loop, the whole answer back
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = asyncio.run_coroutine_threadsafe(_answer(self.app, scope, bytes(body)),
                                                  self.writer_loop)
        try:
            messages = await asyncio.wrap_future(answer)
        except asyncio.CancelledError:
            answer.cancel()
            raise
        for message in messages:
            await send(message)


    async def _plain(self, scope: Scope, send: Send) -> bool:
        """Answer the commonest reads, a one-job query and a listing without filters
        (full or `view=brief`), without the web framework (its routing and
        dependencies cost more than the answer): the same caller (api/auth.py), body
        and X-Request-ID as the API's. False: the API answers (anything else, and every error)."""
        path: str = scope["path"]
        query = scope.get("query_string")
        if scope["method"] != "GET" or path == "/metrics" or (
                path == "/v1/jobs" and query and query != b"view=brief"):
            return False
        snap: Snapshot = scope[SNAPSHOT_KEY]
        scope["app"] = self.app  # what a Request reaches the controller through
        try:
            caller = await user_caller(Request(scope))
        except CorralError:
            return False
        listing = path == "/v1/jobs"
        if listing:
            # in pieces: the chunks' renderings as they are kept, not copied into one
            view = "brief" if query else "full"
            parts = snap.listing_parts(caller, Filters(), None, view)
        else:
            entry = snap.job(int(path[len("/v1/jobs/"):]))
            if entry is None or not snap.sees(caller, entry):
                return False
            parts = (entry.as_seen_by(caller),)
        rid = request_id_of(scope.get("headers", [])).encode("ascii")
        size = sum(len(p) for p in parts)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(size).encode("ascii")),
                                (b"content-type", b"application/json"), (HEADER, rid)]})
        if listing:  # asked for again: from a file the kernel sends without a copy
            f = zerocopy.body_file(snap, (caller, None, view), parts, size)
            if f is not None and await zerocopy.send_file(send, f, size):
                return True
        last = len(parts) - 1
        for i, part in enumerate(parts):
            await send({"type": "http.response.body", "body": part, "more_body": i < last})
        return True


async def _answer(app: App, scope: Scope, body: bytes) -> list[Message]:
    """Run the API on this (the writer's) loop for one request; its messages."""
    out: list[Message] = []
    done = asyncio.Event()
    sent_body = False

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # the answer is whole: the client may be gone
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        out.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()
    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return out
