"""HTTP to the controller over its Unix socket or TCP, with the standard library only.

The CLI imports this on every call, so it must stay light (no httpx, no pydantic):
start-up time is part of the user experience.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from typing import Any
from urllib.parse import quote, urlencode

from corral.model.errors import ERROR_CLASSES, CorralError, Unavailable

CONNECT_TIMEOUT_S = 5.0  # a controller that does not even take the connection: fail fast
DEFAULT_TIMEOUT_S = 30.0


def default_timeout_s() -> float:
    """How long a request may wait for its answer: CORRAL_TIMEOUT_S, else 30 s."""
    text = os.environ.get("CORRAL_TIMEOUT_S", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if 0 < value < 1e6 else DEFAULT_TIMEOUT_S


class _Connecting(TimeoutError):
    """The controller did not take the connection in time."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        limit_s = min(self.timeout or CONNECT_TIMEOUT_S, CONNECT_TIMEOUT_S)
        deadline = time.monotonic() + limit_s
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(limit_s)
            try:
                sock.connect(self._path)
                break
            except BlockingIOError:  # its backlog is full: a busy controller, or a stuck one
                sock.close()
                if time.monotonic() > deadline:
                    raise _Connecting from None
                time.sleep(0.05)
            except TimeoutError:
                sock.close()
                raise _Connecting from None
            except OSError:
                sock.close()
                raise
        sock.settimeout(self.timeout)
        self.sock = sock


class _TcpConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        try:
            self.sock = socket.create_connection(
                (self.host, self.port), min(self.timeout or CONNECT_TIMEOUT_S, CONNECT_TIMEOUT_S))
        except TimeoutError:
            raise _Connecting from None
        self.sock.settimeout(self.timeout)


class Transport:
    """One keep-alive connection; `url` is `unix:///path/sock` or `http://host:port`."""

    def __init__(self, url: str, *, timeout_s: float | None = None,
                 token: str | None = None) -> None:
        self.url = url
        self.timeout_s = default_timeout_s() if timeout_s is None else timeout_s
        self.token = token
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.url.startswith("unix://"):
                self._conn = _UnixConnection(self.url[len("unix://"):], self.timeout_s)
            elif self.url.startswith("http://"):
                hostport = self.url[len("http://"):].rstrip("/")
                self._conn = _TcpConnection(hostport, timeout=self.timeout_s)
            else:
                raise CorralError(f"controller: {self.url!r} is not unix:///PATH or http://HOST:PORT")
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, *, body: Any = None,
                query: dict[str, Any] | None = None, timeout_s: float | None = None,
                headers: dict[str, str] | None = None, retry_s: float = 0.0) -> Any:
        """One request. A stale keep-alive connection gets one fresh retry. With
        `retry_s` (a request safe to repeat, e.g. a submit with an idempotency key),
        a connection lost or a timeout after the request may have reached the
        controller is retried, the same request, until `retry_s` have passed."""
        if query:
            items = [(k, v) for k, v in query.items() if v is not None and v != []]
            if items:
                path = f"{path}?{urlencode(items, doseq=True)}"
        all_headers = {"Accept": "application/json", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if self.token:
            all_headers["Authorization"] = f"Bearer {self.token}"
        deadline: float | None = None  # set at the first loss, when retrying
        pause_s = 0.05
        attempt = 0
        while True:
            attempt += 1
            conn = self._connect()
            conn.timeout = self.timeout_s if timeout_s is None else timeout_s
            if conn.sock is not None:  # a kept-alive connection: this request's timeout
                conn.sock.settimeout(conn.timeout)
            try:
                conn.request(method, quote(path, safe="/?=&%,:+"), body=data,
                             headers=all_headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionRefusedError, FileNotFoundError):
                self.close()
                if deadline is None:  # never reached it: nothing to repeat
                    raise Unavailable(
                        f"controller: nothing answers at {self.url} (is it up? try "
                        f"'corral up')") from None
                lost = f"controller: connection to {self.url} lost"
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()  # a stale keep-alive connection, or the controller went
                lost = f"controller: connection to {self.url} lost"
                if attempt == 1 and not retry_s:
                    continue
            except _Connecting:
                self.close()
                lost = (f"controller: {self.url} does not take connections "
                        f"(waited {CONNECT_TIMEOUT_S:.0f} s)")
                if deadline is None:
                    raise Unavailable(lost) from None
            except TimeoutError:
                self.close()
                lost = (f"controller: no answer from {self.url} in time "
                        f"(waited {conn.timeout:.0f} s)")
            except OSError as e:  # e.g. no permission on the socket
                self.close()
                raise Unavailable(f"controller: cannot reach {self.url}: "
                                  f"{e.strerror or e}") from None
            if not retry_s:
                raise Unavailable(lost) from None
            now = time.monotonic()
            deadline = now + retry_s if deadline is None else deadline
            if now >= deadline:
                raise Unavailable(f"{lost} (retried for {retry_s:g} s)") from None
            time.sleep(min(pause_s, max(0.0, deadline - now)))
            pause_s = min(1.0, pause_s * 2)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = {"message": raw.decode(errors="replace")[:200]}
        if resp.status >= 400:
            code = payload.get("error", "error") if isinstance(payload, dict) else "error"
            msg = payload.get("message") if isinstance(payload, dict) else None
            if not msg and isinstance(payload, dict):
                msg = str(payload.get("detail", "")) or f"HTTP {resp.status}"
            raise ERROR_CLASSES.get(code, CorralError)(msg or f"HTTP {resp.status}")
        return payload
