"""A controller that does not lead (yet): what it answers, and how it becomes one.

A follower listens on the same sockets as a leader would, so that clients and
agents given several addresses find the leader: every request is answered
`503 {"error": "not_leader", "leader": URL}` (the leader's advertised address,
when one leads), except `GET /v1/controllers`, answered from the store, so that
`corral status` works against any controller, and the reads its warm copy of
the queue answers (api/follower_reads.py). Once it wins the lease the server
switches, without closing its listeners, to the controller's own application.

A leader that loses its lease (a follower took it, or it could not renew it in
time) or steps down replaces its own process image with a fresh controller
(`reexec`): a follower, whose memory holds nothing of the deposed epoch.

SQLite keeps one controller per database file: `lock_sqlite` holds a lock on a
file next to it for the life of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hmac
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy.engine import make_url

from corral.api.follower_reads import FollowerReads
from corral.api.peercred import SCOPE_KEY
from corral.api.stop_signals import STOPS
from corral.config import Config
from corral.model.errors import CorralError
from corral.services.leader import Leadership

log = logging.getLogger("corral.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

FOLLOW_FIRST_ENV = "CORRAL_FOLLOW_FIRST_S"  # a re-executed controller waits this long


def advertised_url(cfg: Config) -> str:
    cc = cfg.controller
    if cc.advertise_url:
        return cc.advertise_url.rstrip("/")
    if cc.listen:
        scheme = "https" if cc.tls_cert_file else "http"
        return f"{scheme}://{cc.listen}"
    return f"unix://{cfg.socket_path}"


async def _json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(data)).encode("ascii"))]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class FollowerApp:
    """What a controller that does not lead answers."""

    def __init__(self, cfg: Config, leadership: Leadership) -> None:
        self.cfg = cfg
        self.leadership = leadership
        self.taking_over = False  # won the lease, loading the state
        self.reads: FollowerReads | None = None  # once its warm copy is loaded

    def _may_read(self, scope: Scope) -> bool:
        if scope.get(SCOPE_KEY) is not None or self.cfg.auth.anonymous_read:
            return True
        key = self.cfg.controller.cluster_key
        if not key:
            return False
        given = dict(scope.get("headers") or []).get(b"x-corral-cluster-key", b"")
        return hmac.compare_digest(key.encode(), given)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/v1/controllers" and scope["method"] == "GET" \
                and self._may_read(scope):
            try:
                body = await asyncio.to_thread(self.leadership.describe)
            except Exception as e:  # the store is away
                await _json(send, 503, {"error": "unavailable",
                                        "message": f"controllers: the store cannot be "
                                                   f"read: {type(e).__name__}"})
                return
            await _json(send, 200, body)
            return
        reads = self.reads
        if reads is not None and not self.taking_over and reads.answers(scope) \
                and await reads.serve(scope, receive, send):
            return
        if self.taking_over:
            await _json(send, 503, {"error": "unavailable",
                                    "message": "this controller is taking over: loading "
                                               "the state; try again in a moment"})
            return
        leader = self.leadership.leader_address()
        where = f"; the leader is at {leader}" if leader else "; no controller leads yet"
        await _json(send, 503, {"error": "not_leader", "leader": leader,
                                "message": f"this controller does not lead{where}"})


class Switch:
    """The server's application: the follower's until this controller leads."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def reexec(follow_first_s: float) -> None:
    """Become a fresh controller process (a follower): the same command line, the
    same pid. Listening sockets and locks go with the old image. Not when a stop
    signal came: the controller is stopping (api/stop_signals.py; one that comes
    from now on stays pending across the exec and stops the fresh image)."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):  # best effort
            handler.flush()
    env = dict(os.environ)
    env[FOLLOW_FIRST_ENV] = f"{follow_first_s:g}"
    with STOPS.lock:
        if STOPS.asked.is_set():
            log.info("not starting again as a follower: this controller is stopping")
            return
        try:
            os.closerange(3, 1024)  # the inheritable Unix socket among them
            os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
        except OSError:
            os._exit(70)


def follow_first_s() -> float:
    """How long a re-executed controller waits before it campaigns."""
    try:
        return max(0.0, min(3600.0, float(os.environ.pop(FOLLOW_FIRST_ENV, "0"))))
    except ValueError:
        return 0.0


def lock_sqlite(url: str) -> int | None:
    """One controller per SQLite file: hold `<file>.controller.lock`, or fail with one
    line. None for PostgreSQL (controllers share it and elect a leader)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    path = f"{u.database}.controller.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CorralError(f"database {u.database}: another controller uses it (it holds "
                          f"{path}); SQLite runs one controller, use PostgreSQL for a "
                          f"standby") from None
    return fd
