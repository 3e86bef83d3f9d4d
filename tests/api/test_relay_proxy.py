"""The relay's forwarding (corral.relay.proxy) against stand-in controllers: what
the caller sent to name someone is dropped and the relay's own headers added; the
answer's status, headers and body come back; a caller that goes away ends its
request at the controller too; with several controllers the one leading is found."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from corral.api.peercred import SCOPE_KEY
from corral.relay.proxy import RelayApp


class Upstream:
    """An ASGI controller stand-in: records each request; /slow waits until cancelled."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.cancelled = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = (await receive()).get("body", b"")
        self.seen.append({"path": scope["path"], "query": scope["query_string"],
                          "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
                          "body": body})
        if scope["path"] == "/slow":
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        await send({"type": "http.response.start", "status": 418,
                    "headers": [(b"content-type", b"application/json"),
                                (b"x-request-id", b"r-1")]})
        await send({"type": "http.response.body", "body": b'{"ok": ', "more_body": True})
        await send({"type": "http.response.body", "body": b"true}"})


def scope(path: str, headers: list[tuple[bytes, bytes]], uid: int = 1234,
          query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
            "query_string": query, "headers": headers, SCOPE_KEY: uid}


def test_the_caller_is_the_kernel_uid_and_the_answer_comes_back_whole() -> None:
    async def main() -> None:
        up = Upstream()
        app = RelayApp("http://ctl", "login1", "the-relay-key-0123",
                       transport=httpx.ASGITransport(app=up))
        got: list[Any] = []
        bodies = [{"type": "http.request", "body": b'{"a":', "more_body": True},
                  {"type": "http.request", "body": b"1}"}]

        async def receive() -> Any:
            if bodies:
                return bodies.pop(0)
            await asyncio.sleep(60)

        async def send(message: Any) -> None:
            got.append(message)
        sent = [(b"authorization", b"Bearer someone-elses"), (b"x-corral-relay-uid", b"0"),
                (b"x-corral-relay", b"other"), (b"x-corral-relay-key", b"guess"),
                (b"x-corral-cluster-key", b"guess"), (b"idempotency-key", b"k1"),
                (b"host", b"localhost"), (b"content-length", b"6")]
        await app(scope("/v1/jobs", sent, query=b"x=1%2C2"), receive, send)
        await app.close()
        [seen] = up.seen
        assert (seen["path"], seen["query"], seen["body"]) == ("/v1/jobs", b"x=1%2C2", b'{"a":1}')
        headers = seen["headers"]
        assert "authorization" not in headers and "x-corral-cluster-key" not in headers
        assert (headers["x-corral-relay"], headers["x-corral-relay-key"],
                headers["x-corral-relay-uid"], headers["idempotency-key"]) == (
            "login1", "the-relay-key-0123", "1234", "k1")
        assert got[0]["status"] == 418 and (b"x-request-id", b"r-1") in got[0]["headers"]
        assert b"".join(m.get("body", b"") for m in got[1:]) == b'{"ok": true}'
        assert not got[-1].get("more_body")
    asyncio.run(main())


def test_a_caller_that_goes_away_ends_its_request_at_the_controller() -> None:
    async def main() -> None:
        up = Upstream()
        app = RelayApp("http://ctl", "login1", "the-relay-key-0123",
                       transport=httpx.ASGITransport(app=up))
        gone = asyncio.Event()
        first = True
        got: list[Any] = []

        async def receive() -> Any:
            nonlocal first
            if first:
                first = False
                return {"type": "http.request", "body": b""}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            got.append(message)
        task = asyncio.ensure_future(app(scope("/slow", []), receive, send))
        for _ in range(100):  # the request reaches the controller
            if up.seen:
                break
            await asyncio.sleep(0.01)
        gone.set()
        await asyncio.wait_for(task, 5)
        await asyncio.wait_for(up.cancelled.wait(), 5)
        assert got == []  # nothing to answer: the caller is gone
        await app.close()
    asyncio.run(main())


def test_the_agents_endpoints_are_not_relayed() -> None:
    async def main() -> None:
        up = Upstream()
        app = RelayApp("http://ctl", "login1", "the-relay-key-0123",
                       transport=httpx.ASGITransport(app=up))
        got: list[Any] = []

        async def receive() -> Any:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            got.append(message)
        await app(scope("/agent/v1/register", []), receive, send)
        await app.close()
        assert up.seen == [] and got[0]["status"] == 403
    asyncio.run(main())


def _call(app: RelayApp, path: str) -> list[Any]:
    got: list[Any] = []

    async def receive() -> Any:
        if not got and not getattr(receive, "done", False):
            receive.done = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b""}
        await asyncio.sleep(60)

    async def send(message: Any) -> None:
        got.append(message)

    asyncio.run(app(scope(path, []), receive, send))
    return got


def answer(status: int, body: dict[str, Any]) -> httpx.Response:
    """An answer streamed, as a controller's over the network is."""
    return httpx.Response(status, headers={"content-type": "application/json"},
                          stream=httpx.ByteStream(json.dumps(body).encode()))


def test_with_several_controllers_the_relay_finds_the_leader() -> None:
    """c1 does not take connections, c2 follows and names c3, c3 leads; later
    requests go straight to c3. A 503 that is not a follower's comes back as is."""
    asked: list[str] = []

    def controllers(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        asked.append(f"{host}{request.url.path}")
        if host == "c1":
            raise httpx.ConnectError("connection refused", request=request)
        if host == "c2":
            return answer(503, {"error": "not_leader", "leader": "http://c3/"})
        if request.url.path == "/busy":
            return answer(503, {"error": "unavailable", "message": "busy"})
        return answer(200, {"from": host})

    app = RelayApp("http://c1,http://c2,http://c3", "login1", "the-relay-key-0123",
                   transport=httpx.MockTransport(controllers))
    got = _call(app, "/v1/jobs")
    assert got[0]["status"] == 200 and b'"c3"' in b"".join(m.get("body", b"") for m in got)
    assert asked == ["c1/v1/jobs", "c2/v1/jobs", "c3/v1/jobs"]
    assert app.controller == "http://c3"
    asked.clear()
    got = _call(app, "/busy")
    assert asked == ["c3/busy"] and got[0]["status"] == 503
    assert b'"busy"' in b"".join(m.get("body", b"") for m in got)
    asyncio.run(app.close())


def test_when_no_controller_leads_the_caller_is_told_in_one_line() -> None:
    def following(request: httpx.Request) -> httpx.Response:
        return answer(503, {"error": "not_leader", "leader": None})

    app = RelayApp("http://c1,http://c2", "login1", "the-relay-key-0123",
                   transport=httpx.MockTransport(following), failover_s=0.3)
    started = time.monotonic()
    got = _call(app, "/v1/jobs")
    assert time.monotonic() - started < 5
    body = json.loads(b"".join(m.get("body", b"") for m in got))
    assert got[0]["status"] == 503 and body["message"].startswith(
        "relay login1: the controller at http://c"), body
    assert body["message"].endswith("does not lead (no leader found among 2 controllers "
                                    "in 0.3 s)"), body
    asyncio.run(app.close())
