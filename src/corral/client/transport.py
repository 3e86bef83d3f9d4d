"""HTTP/1.1 to the controller over its Unix socket or TCP (with TLS for https://),
on a plain socket.

The CLI and the drop-in commands import this on every call, so it stays light: no
httpx, no pydantic, not even `http.client` (which pulls in `email` and `ssl`). It
speaks exactly what the controller answers: a status line, headers, then a body
sized by Content-Length or sent chunked (or, failing both, up to the close).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from corral.client import session
from corral.model.errors import (
    ERROR_CLASSES,
    CorralError,
    NotLeader,
    Unauthenticated,
    Unavailable,
)

CONNECT_TIMEOUT_S = 5.0  # a controller that does not even take the connection: fail fast
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_FAILOVER_S = 30.0  # with several controllers: how long to look for the leader
MAX_HEADER_LINES = 100


def default_timeout_s() -> float:
    """How long a request may wait for its answer: CORRAL_TIMEOUT_S, else 30 s."""
    text = os.environ.get("CORRAL_TIMEOUT_S", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIMEOUT_S
    return value if 0 < value < 1e6 else DEFAULT_TIMEOUT_S


def failover_s() -> float:
    """With several controller addresses, how long a request looks for the leader
    (a take-over lasts a few seconds): CORRAL_FAILOVER_S, else 30 s."""
    text = os.environ.get("CORRAL_FAILOVER_S", "")
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_FAILOVER_S
    return value if 0 <= value < 1e6 else DEFAULT_FAILOVER_S


class _MaybeReached(Unavailable):
    """The connection was lost after the request was sent: it may have been done."""


class _Connecting(TimeoutError):
    """The controller did not take the connection in time."""


class _Dropped(ConnectionError):
    """The connection closed before a whole answer came (a stale keep-alive one)."""


def _connect_unix(path: str, timeout_s: float) -> socket.socket:
    limit_s = min(timeout_s or CONNECT_TIMEOUT_S, CONNECT_TIMEOUT_S)
    deadline = time.monotonic() + limit_s
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(limit_s)
        try:
            sock.connect(path)
            return sock
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


def _connect_tcp(hostport: str, timeout_s: float, *, tls: bool = False) -> socket.socket:
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        host, port = hostport, "443" if tls else "80"
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)),
                                        min(timeout_s or CONNECT_TIMEOUT_S, CONNECT_TIMEOUT_S))
    except TimeoutError:
        raise _Connecting from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls:
        import ssl
        try:
            wrapped: socket.socket = tls_context().wrap_socket(
                sock, server_hostname=host.strip("[]"))
            return wrapped
        except ssl.SSLError as e:
            sock.close()
            raise CorralError(f"controller: TLS with {hostport} failed: "
                              f"{e.reason or e} (CORRAL_CA_FILE names a CA to trust)") \
                from None
    return sock


def tls_context() -> Any:
    """An ssl.SSLContext trusting the system's certificate authorities, and
    CORRAL_CA_FILE's when it is set (a site's own CA, or a self-signed certificate)."""
    import ssl
    ctx = ssl.create_default_context()
    ca_file = os.environ.get("CORRAL_CA_FILE")
    if ca_file:
        try:
            ctx.load_verify_locations(ca_file)
        except (OSError, ssl.SSLError) as e:
            raise CorralError(f"CORRAL_CA_FILE={ca_file}: cannot load it: {e}") from None
    return ctx


def is_remote(url: str) -> bool:
    """Whether `url` reaches the controller over the network (tokens needed)."""
    return url.startswith(("http://", "https://"))


class _Answer:
    __slots__ = ("body", "close", "retry_after", "seq", "status")

    def __init__(self, status: int, body: bytes, close: bool, seq: int = 0,
                 retry_after: bytes = b"") -> None:
        self.status = status
        self.body = body
        self.close = close
        self.seq = seq  # X-Corral-Seq: the newest event of the log it reflects
        self.retry_after = retry_after  # Retry-After, as sent


def _read_answer(rfile: Any) -> _Answer:
    line = rfile.readline(65537)
    if not line:
        raise _Dropped
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise CorralError(f"controller: not an HTTP answer ({line[:60]!r})")
    status = int(parts[1])
    length: int | None = None
    seq = 0
    retry_after = b""
    chunked = False
    close = parts[0] == b"HTTP/1.0"
    for _ in range(MAX_HEADER_LINES):
        h = rfile.readline(65537)
        if not h:
            raise _Dropped
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif key == b"connection":
            close = value.strip().lower() == b"close"
        elif key == b"x-corral-seq" and value.strip().isdigit():
            seq = int(value.strip())
        elif key == b"retry-after":
            retry_after = value.strip()
    else:
        raise CorralError("controller: an answer with too many header lines")
    if status in (204, 304) or 100 <= status < 200:
        body = b""
    elif chunked:
        pieces = []
        while True:
            size_line = rfile.readline(65537)
            if not size_line:
                raise _Dropped
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            piece = rfile.read(size + 2)
            if len(piece) < size + 2:
                raise _Dropped
            pieces.append(piece[:size])
        body = b"".join(pieces)
    elif length is not None:
        body = rfile.read(length)
        if len(body) < length:
            raise _Dropped
    else:
        body = rfile.read()
        close = True
    return _Answer(status, body, close, seq, retry_after)


MAX_RETRY_AFTER_S = 60.0


def _retry_after_s(answer: _Answer) -> float:
    """How long a 429 answer says to wait: corral's exact `retry_after_s`, else the
    Retry-After header's seconds (1 s if neither reads; at most MAX_RETRY_AFTER_S)."""
    try:
        told = json.loads(answer.body).get("retry_after_s")
        wait_s = float(told) if told is not None else float(answer.retry_after)
    except (ValueError, TypeError, AttributeError):
        wait_s = 1.0
    return min(MAX_RETRY_AFTER_S, wait_s) if wait_s > 0 else 0.0


class Transport:
    """One keep-alive connection; `url` is `unix:///path/sock` or `http://host:port`."""

    def __init__(self, url: str, *, timeout_s: float | None = None,
                 token: str | None = None,
                 token_source: Callable[[], str | None] | None = None) -> None:
        """`token_source`: gives a fresh token when the controller refuses `token` as
        expired (a long-lived client outlives its access tokens). `url` may list
        several controllers, comma separated (those sharing one database): requests
        go to the one that leads (`request`)."""
        self.urls = [u.strip() for u in url.split(",") if u.strip()] or [url]
        self.url = self.urls[0]
        self.timeout_s = default_timeout_s() if timeout_s is None else timeout_s
        self.token = token
        self.token_source = token_source
        self._sock: socket.socket | None = None
        self._rfile: Any = None
        # with several controllers: the newest event of the log this client has seen
        # an answer reflect (client/session.py); None until first needed
        self.seen_seq: int | None = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            if self.url.startswith("unix://"):
                sock = _connect_unix(self.url[len("unix://"):], self.timeout_s)
            elif self.url.startswith("http://"):
                sock = _connect_tcp(self.url[len("http://"):].rstrip("/"), self.timeout_s)
            elif self.url.startswith("https://"):
                sock = _connect_tcp(self.url[len("https://"):].rstrip("/"), self.timeout_s,
                                    tls=True)
            else:
                raise CorralError(f"controller: {self.url!r} is not unix:///PATH, "
                                  f"http://HOST:PORT or https://HOST:PORT")
            self._sock = sock
            self._rfile = sock.makefile("rb")
        return self._sock

    def close(self) -> None:
        if self._rfile is not None:
            self._rfile.close()
            self._rfile = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _host(self) -> str:
        return self.url.split("://", 1)[1].rstrip("/") if is_remote(self.url) \
            else "localhost"

    def request(self, method: str, path: str, *, body: Any = None,
                query: dict[str, Any] | None = None, timeout_s: float | None = None,
                headers: dict[str, str] | None = None, retry_s: float = 0.0,
                data: bytes | None = None, raw: bool = False) -> Any:
        """One request (see `_once`). With several controllers, one that does not
        answer or does not lead is left for the leader it names (if listed) or the
        next, for up to CORRAL_FAILOVER_S; a request whose connection was lost after
        it was sent goes elsewhere only when it is safe to repeat (`retry_s`), for up
        to that long again from the first loss (a controller that took the request and
        never answered, frozen, may have used the whole wait)."""
        if len(self.urls) == 1:
            return self._request(method, path, body=body, query=query,
                                 timeout_s=timeout_s, headers=headers, retry_s=retry_s,
                                 data=data, raw=raw)
        window_s = max(failover_s(), retry_s)
        deadline = time.monotonic() + window_s
        lost = False
        pause_s = 0.05
        tried = 0
        while True:
            try:
                return self._request(method, path, body=body, query=query,
                                     timeout_s=timeout_s, headers=headers,
                                     data=data, raw=raw)
            except _MaybeReached:
                if not retry_s:
                    raise
                if not lost:  # (a controller frozen past the answer's wait, as a
                    # leader cut off is: the others are still looked at after it)
                    lost = True
                    deadline = max(deadline, time.monotonic() + window_s)
                if time.monotonic() >= deadline:
                    raise
                hint = None
            except Unavailable as e:  # never reached it, or it did nothing (503)
                if time.monotonic() >= deadline:
                    raise Unavailable(f"{e} (no leader found among {len(self.urls)} "
                                      f"controllers in {failover_s():g} s)") from None
                hint = e.leader if isinstance(e, NotLeader) else None
            self.close()
            self._next(hint)
            tried += 1
            if tried % len(self.urls) == 0:  # a whole round: a take-over is under way
                time.sleep(pause_s)
                pause_s = min(0.25, pause_s * 2)

    def _next(self, hint: str | None) -> None:
        named = hint.rstrip("/") if hint else None
        listed = [u.rstrip("/") for u in self.urls]
        if named in listed and named != self.url.rstrip("/"):
            self.url = self.urls[listed.index(named)]
        else:
            self.url = self.urls[(self.urls.index(self.url) + 1) % len(self.urls)]

    def _request(self, method: str, path: str, *, body: Any = None,
                 query: dict[str, Any] | None = None, timeout_s: float | None = None,
                 headers: dict[str, str] | None = None, retry_s: float = 0.0,
                data: bytes | None = None, raw: bool = False) -> Any:
        """One request to the current controller. With a `token_source`, a token the
        controller refuses as expired is renewed from it and the request sent once
        more (a refused request did nothing, so repeating it is safe)."""
        try:
            return self._once(method, path, body=body, query=query, timeout_s=timeout_s,
                              headers=headers, retry_s=retry_s, data=data, raw=raw)
        except Unauthenticated as e:
            if self.token_source is None or not str(e).startswith("token refused: expired"):
                raise
            self.token = self.token_source()
        return self._once(method, path, body=body, query=query, timeout_s=timeout_s,
                          headers=headers, retry_s=retry_s, data=data, raw=raw)

    def _once(self, method: str, path: str, *, body: Any = None,
              query: dict[str, Any] | None = None, timeout_s: float | None = None,
              headers: dict[str, str] | None = None, retry_s: float = 0.0,
              data: bytes | None = None, raw: bool = False) -> Any:
        """One request, sent by `_send` (`retry_s`: safe to repeat, e.g. a submit
        with an idempotency key), and sent again as told while the controller answers
        that its user is over the rate limit; its answer decoded by `_payload`."""
        if query:
            items = [(k, v) for k, v in query.items() if v is not None and v != []]
            if items:
                path = f"{path}?{urlencode(items, doseq=True)}"
        lines = [f"{method} {quote(path, safe='/?=&%,:+')} HTTP/1.1",
                 f"Host: {self._host()}", "Accept: application/json",
                 "Accept-Encoding: identity"]
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        if len(self.urls) > 1:  # a follower may answer: not from older than seen
            if self.seen_seq is None or method in ("GET", "HEAD"):
                self.seen_seq = max(self.seen_seq or 0, session.load(self.urls))
            if self.seen_seq and method in ("GET", "HEAD"):
                lines.append(f"X-Corral-Min-Seq: {self.seen_seq}")
        if data is not None:  # raw bytes (a sandbox file)
            lines.append("Content-Type: application/octet-stream")
        else:
            data = b""
        if body is not None:
            data = json.dumps(body).encode()
            lines.append("Content-Type: application/json")
        if data or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(data)}")
        if self.token:
            lines.append(f"Authorization: Bearer {self.token}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data
        wait_s = self.timeout_s if timeout_s is None else timeout_s
        limited_until: float | None = None  # how long a rate-limited request waits
        while True:
            answer = self._send(message, wait_s, retry_s)
            if answer.status != 429:
                break
            # over the site's rate limit (nothing was done): wait as told, then send it
            # again, for as long as the answer itself may take
            pause_s = _retry_after_s(answer)
            now = time.monotonic()
            limited_until = now + wait_s if limited_until is None else limited_until
            if now + pause_s > limited_until:
                break
            if answer.close:
                self.close()
            time.sleep(pause_s)
        return self._payload(answer, method, raw)

    def _payload(self, answer: _Answer, method: str, raw: bool) -> Any:
        """An answer's decoded body (its bytes with `raw`), or its error raised."""
        if answer.close:
            self.close()
        if answer.seq and self.seen_seq is not None and answer.seq > self.seen_seq:
            self.seen_seq = answer.seq
            if method not in ("GET", "HEAD"):  # a write: for this user's next command
                session.save(self.urls, answer.seq)
        if raw and answer.status < 400:
            return answer.body
        text = answer.body
        try:
            payload = _loads(text) if text else None
        except ValueError:
            payload = {"message": text.decode(errors="replace")[:200]}
        if answer.status >= 400:
            code = payload.get("error", "error") if isinstance(payload, dict) else "error"
            msg = payload.get("message") if isinstance(payload, dict) else None
            if not msg and isinstance(payload, dict):
                msg = str(payload.get("detail", "")) or f"HTTP {answer.status}"
            error = ERROR_CLASSES.get(code, CorralError)(msg or f"HTTP {answer.status}")
            if isinstance(error, NotLeader) and isinstance(payload, dict) \
                    and isinstance(payload.get("leader"), str):
                error.leader = payload["leader"]
            raise error
        return payload

    def _send(self, message: bytes, wait_s: float, retry_s: float) -> _Answer:
        """`message` sent and its answer read. A stale keep-alive connection gets one
        fresh retry; with `retry_s`, a connection lost or a timeout after the message
        may have reached the controller is retried until `retry_s` have passed."""
        deadline: float | None = None  # set at the first loss, when retrying
        pause_s = 0.05
        attempt = 0
        while True:
            attempt += 1
            try:
                sock = self._connect()
                sock.settimeout(wait_s)
                sock.sendall(message)
                return _read_answer(self._rfile)
            except (ConnectionRefusedError, FileNotFoundError):
                self.close()
                if deadline is None:  # never reached it: nothing to repeat
                    raise Unavailable(
                        f"controller: nothing answers at {self.url} (is it up? try "
                        f"'corral up')") from None
                lost = f"controller: connection to {self.url} lost"
            except (_Dropped, BrokenPipeError, ConnectionResetError):
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
                lost = f"controller: no answer from {self.url} in time (waited {wait_s:.0f} s)"
            except OSError as e:  # e.g. no permission on the socket
                self.close()
                raise Unavailable(f"controller: cannot reach {self.url}: "
                                  f"{e.strerror or e}") from None
            except ValueError:  # a malformed length
                self.close()
                raise CorralError(f"controller: a malformed answer from {self.url}") from None
            if not retry_s:
                raise _MaybeReached(lost) from None
            now = time.monotonic()
            deadline = now + retry_s if deadline is None else deadline
            if now >= deadline:
                raise Unavailable(f"{lost} (retried for {retry_s:g} s)") from None
            time.sleep(min(pause_s, max(0.0, deadline - now)))
            pause_s = min(1.0, pause_s * 2)


BIG_BODY_B = 1 << 16  # decoded by orjson (its import costs a command ~15 ms)


def _loads(body: bytes) -> Any:
    """A JSON answer decoded: a large one (a listing) by orjson, several times faster
    than the standard library; the same values either way (json for what orjson
    refuses: integers past 64 bits)."""
    if len(body) >= BIG_BODY_B:
        import orjson  # (here: most commands get small answers)
        try:
            return orjson.loads(body)
        except ValueError:
            pass
    return json.loads(body)
