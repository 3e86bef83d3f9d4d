"""The plain-socket HTTP/1.1 reader of the client transport."""

from __future__ import annotations

import io
import socket
import threading
from pathlib import Path

import pytest

from corral.client.transport import Transport, _Dropped, _read_answer
from corral.model.errors import NotFound, Unavailable


def test_sized_chunked_and_closing_answers() -> None:
    a = _read_answer(io.BytesIO(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}rest"))
    assert (a.status, a.body, a.close) == (200, b"{}", False)
    a = _read_answer(io.BytesIO(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"3\r\n[1,\r\n2;x=y\r\n2]\r\n0\r\nTrailer: t\r\n\r\n"))
    assert (a.status, a.body) == (201, b"[1,2]")
    a = _read_answer(io.BytesIO(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n[3]"))
    assert (a.body, a.close) == (b"[3]", True)
    a = _read_answer(io.BytesIO(b"HTTP/1.1 204 No Content\r\n\r\n"))
    assert (a.status, a.body) == (204, b"")


def test_a_cut_answer_is_dropped() -> None:
    for raw in (b"", b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{}",
                b"HTTP/1.1 200 OK\r\n"):
        with pytest.raises(_Dropped):
            _read_answer(io.BytesIO(raw))


def test_keep_alive_errors_and_a_stale_connection(tmp_path: Path) -> None:
    """Two answers on one connection, an error answer becomes its domain error, and a
    connection the server closed is replaced once, quietly."""
    path = str(tmp_path / "s.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = srv.accept()  # first connection: two answers, then closed
        f = conn.makefile("rb")
        for body, status in ((b'{"ok": 1}', b"200 OK"),
                             (b'{"error": "not_found", "message": "job 9: no such job"}',
                              b"404 Not Found")):
            seen.append(f.readline())
            while f.readline() not in (b"\r\n", b""):
                pass
            conn.sendall(b"HTTP/1.1 " + status + b"\r\ncontent-length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
        f.close()
        conn.close()
        conn, _ = srv.accept()  # the retry after the stale one
        f = conn.makefile("rb")
        seen.append(f.readline())
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]")
        f.close()
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    tr = Transport(f"unix://{path}", timeout_s=10)
    assert tr.request("GET", "/v1/status") == {"ok": 1}
    with pytest.raises(NotFound, match=r"^job 9: no such job$"):
        tr.request("GET", "/v1/jobs/9", query={"x": "a b"})
    assert tr.request("POST", "/v1/jobs", body={"a": 1}) == []
    t.join(10)
    tr.close()
    srv.close()
    assert seen == [b"GET /v1/status HTTP/1.1\r\n", b"GET /v1/jobs/9?x=a+b HTTP/1.1\r\n",
                    b"POST /v1/jobs HTTP/1.1\r\n"]
    with pytest.raises(Unavailable, match="nothing answers at"):
        Transport(f"unix://{path}").request("GET", "/v1/status")
