"""Peer credentials for the Unix socket: the kernel tells us who is calling.

uvicorn creates one protocol object per connection; these subclasses read
SO_PEERCRED when the connection is made and hand the uid to the app in the
ASGI scope as `corral.peer_uid` (None on TCP, whose connections they set to
TCP_NODELAY). `PeerCredProtocol` is the controller's: uvicorn's protocol on
httptools (a C parser: a request costs the server a fraction of what h11's pure
Python one does), h11's where httptools is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # (httptools missing)
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

SCOPE_KEY = "corral.peer_uid"
# A local connection's send buffer: a whole listing of thousands of jobs goes into the
# kernel in one call (the default, about 200 KB, takes a turn of the event loop and a
# copy of the rest per 200 KB). The kernel takes memory for it only while the reader
# has not yet read.
UNIX_SEND_BUFFER_B = 8 << 20


def peer_uid(sock: Any) -> int | None:
    if sock is None or getattr(sock, "family", None) != socket.AF_UNIX:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class _WithPeer:
    def __init__(self, app: Any, uid: int | None) -> None:
        self.app = app
        self.uid = uid

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope[SCOPE_KEY] = self.uid
        await self.app(scope, receive, send)


def no_delay(sock: Any) -> None:
    """TCP_NODELAY on a TCP connection. asyncio sets it only on sockets whose protocol
    number is IPPROTO_TCP, and a listener made with protocol 0 (socket.create_server)
    accepts sockets with 0: an answer written in two parts (head, then body) then
    waits for the client's delayed acknowledgement of the first, 40 ms a request."""
    if sock is not None and getattr(sock, "family", None) in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def on_connection(protocol: Any, transport: asyncio.Transport) -> None:
    """A new connection: the peer's uid to every request's scope; TCP_NODELAY on TCP,
    a large send buffer on the Unix socket."""
    sock = transport.get_extra_info("socket")
    uid = peer_uid(sock)
    if uid is None:
        no_delay(sock)
    else:
        with contextlib.suppress(OSError):  # else the default: slower listings
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UNIX_SEND_BUFFER_B)
    protocol.app = _WithPeer(protocol.app, uid)


class PeerCredH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        on_connection(self, transport)


PeerCredProtocol: type[asyncio.Protocol] = PeerCredH11Protocol
if HttpToolsProtocol is not None:
    class PeerCredHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(  # type: ignore[override]
                self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            on_connection(self, transport)

    PeerCredProtocol = PeerCredHttpToolsProtocol
