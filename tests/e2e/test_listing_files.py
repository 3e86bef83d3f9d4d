"""A whole listing asked for again is sent from a file (api/zerocopy.py): the same
bytes as the first answer, and the connection goes on as before."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path

from tests.e2e.cluster import Cluster

JOBS = 1200  # about 1.8 MB of JSON: above zerocopy.MIN_FILE_B


def _get(sock: socket.socket, path: str) -> tuple[bytes, bytes]:
    """One request on a kept-alive connection: (head, body), read by Content-Length."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        got = sock.recv(65536)
        assert got, "the controller closed the connection"
        buf += got
    head, _, body = buf.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    parts = [body]
    size = len(body)
    while size < length:
        got = sock.recv(1 << 20)
        assert got, "the controller closed the connection mid-answer"
        parts.append(got)
        size += len(got)
    out = b"".join(parts)
    assert len(out) == length
    return head, out


def _listing_files(pid: int) -> int:
    n = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):  # (gone meanwhile)
            n += "corral-listing" in os.readlink(fd)
    return n


def test_a_listing_asked_again_is_the_same_bytes_from_a_file(cluster: Cluster) -> None:
    req = {"working_dir": str(cluster.state), "argv": ["true"], "stdout": "/dev/null",
           "hold": True}
    with cluster.client() as c:
        for k in range(0, JOBS, 600):
            out = c.submit_batch([{**req, "name": f"z{i}"} for i in range(k, k + 600)])
            assert all(x.ok for x in out)
    pid = cluster.pid("controller")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(cluster.state / "corral.sock"))
        bodies, files = [], []
        for _ in range(4):
            bodies.append(_get(sock, "/v1/jobs"))
            files.append(_listing_files(pid))
        _, one = _get(sock, "/v1/jobs/1")  # the connection goes on after a file
        listed = json.loads(bodies[0][1])["jobs"]
        assert len(listed) >= JOBS and len(bodies[0][1]) > 1 << 20
        assert all(body == bodies[0][1] for _, body in bodies)
        assert json.loads(one)["id"] == 1
        # the first answer made no file; a later one did (kept with its snapshot)
        assert files[0] == 0 and max(files[1:]) >= 1
