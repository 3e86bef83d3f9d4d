"""The controller's HTTP protocol (api/peercred.py), served by uvicorn as the
controller serves it: httptools' parser, the caller's uid from the Unix socket, none
on TCP; keep-alive requests on one connection each see it."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from corral.api.peercred import SCOPE_KEY, PeerCredProtocol


async def echo_uid(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = json.dumps({"uid": scope.get(SCOPE_KEY), "path": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serving(sockets: list[socket.socket]) -> Iterator[None]:
    config = uvicorn.Config(echo_uid, http=PeerCredProtocol, lifespan="off",
                            log_level="warning", log_config=None, ws="none")
    server = uvicorn.Server(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(server.serve(sockets=sockets),), daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            thread.join(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(10)
        loop.close()


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def get(conn: http.client.HTTPConnection, url: str) -> dict[str, Any]:
    conn.request("GET", url)
    resp = conn.getresponse()
    assert resp.status == 200
    out: dict[str, Any] = json.loads(resp.read())
    return out


def test_the_protocol_parses_with_httptools() -> None:
    assert issubclass(PeerCredProtocol, HttpToolsProtocol)


def test_the_unix_socket_names_its_caller_and_tcp_does_not(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(path)
    tcp = socket.create_server(("127.0.0.1", 0))
    port = tcp.getsockname()[1]
    with serving([unix, tcp]):
        local = UnixConnection(path)
        for i in range(3):  # one connection, several requests
            assert get(local, f"/v1/jobs/{i}") == {"uid": os.getuid(), "path": f"/v1/jobs/{i}"}
        local.close()
        remote = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert get(remote, "/v1/jobs") == {"uid": None, "path": "/v1/jobs"}
        remote.close()
