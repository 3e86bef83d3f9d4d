"""Peer credentials for the Unix socket: the kernel tells us who is calling.

uvicorn creates one protocol object per connection; this subclass reads
SO_PEERCRED when the connection is made and hands the uid to the app in the
ASGI scope as `corral.peer_uid` (None on TCP).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

SCOPE_KEY = "corral.peer_uid"


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


class PeerCredH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        uid = peer_uid(transport.get_extra_info("socket"))
        self.app = _WithPeer(self.app, uid)
