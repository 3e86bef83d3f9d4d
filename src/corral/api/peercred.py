"""Peer credentials for the Unix socket: the kernel tells us who is calling.

uvicorn creates one protocol object per connection; this subclass reads
SO_PEERCRED when the connection is made and hands the uid to the app in the
ASGI scope as `corral.peer_uid` (None on TCP, whose connections it sets to
TCP_NODELAY).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

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


class PeerCredH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        uid = peer_uid(sock)
        if uid is None:
            no_delay(sock)
        else:
            with contextlib.suppress(OSError):  # else the default: slower listings
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UNIX_SEND_BUFFER_B)
        self.app = _WithPeer(self.app, uid)
