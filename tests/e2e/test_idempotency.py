"""Idempotent submission against a real controller: an answer lost after the commit,
and a controller killed and restarted; each time the store holds one job."""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.client import Client
from tests.e2e.cluster import Cluster


class _Upstream(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self._path)


class LosingProxy:
    """Passes HTTP requests from its socket to the controller's. The first `drops`
    submits reach the controller, which commits them, but their answers are lost:
    the client's connection is closed instead (a network or proxy failure)."""

    def __init__(self, path: Path, upstream: Path, drops: int) -> None:
        self.upstream = str(upstream)
        self.drops = drops
        self.submit_keys: list[str | None] = []  # Idempotency-Key of each submit seen
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as f:
            while line := f.readline():
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := f.readline()) not in (b"\r\n", b"\n", b""):
                    k, v = h.decode().split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = f.read(int(headers.get("content-length", 0)))
                up = _Upstream(self.upstream)
                up.request(method, path, body=body, headers=headers)
                resp = up.getresponse()
                data = resp.read()
                up.close()
                if method == "POST" and path == "/v1/jobs":
                    self.submit_keys.append(headers.get("idempotency-key"))
                    if self.drops > 0:
                        self.drops -= 1
                        return  # committed, but the answer never arrives
                conn.sendall(f"HTTP/1.1 {resp.status} {resp.reason}\r\n"
                             f"Content-Type: application/json\r\n"
                             f"Content-Length: {len(data)}\r\n\r\n".encode() + data)


@pytest.fixture
def proxy(cluster: Cluster) -> Iterator[LosingProxy]:
    p = LosingProxy(cluster.state / "lossy.sock", cluster.state / "corral.sock", drops=3)
    try:
        yield p
    finally:
        p.close()


def _named(cluster: Cluster, name: str) -> list[int]:
    with cluster.client() as c:
        return [j["id"] for j in c.jobs(history=True, name=[name])]


def test_a_submit_whose_answer_is_lost_is_sent_again_with_its_key(
        cluster: Cluster, proxy: LosingProxy) -> None:
    with Client(f"unix://{cluster.state / 'lossy.sock'}") as c:
        job_id = c.submit(name="lost-answer", working_dir=str(cluster.state), argv=["true"],
                          stdout="/dev/null", hold=True)
    # three answers lost, the fourth try answered: one key throughout, one job
    assert len(proxy.submit_keys) == 4
    assert len(set(proxy.submit_keys)) == 1 and proxy.submit_keys[0]
    assert _named(cluster, "lost-answer") == [job_id]


def test_a_retry_after_a_controller_crash_returns_the_same_job(cluster: Cluster) -> None:
    request = {"name": "crash-retry", "working_dir": str(cluster.state), "argv": ["true"],
               "stdout": "/dev/null", "hold": True, "array": "0-2"}
    with cluster.client() as c:
        ids = c.submit_many(idempotency_key="crash-key-1", **request)
    cluster.kill9_controller()
    cluster.start_controller()
    with cluster.client() as c:
        assert c.submit_many(idempotency_key="crash-key-1", **request) == ids
        other = c.submit_many(idempotency_key="crash-key-2", **request)
    assert set(other).isdisjoint(ids)
    with cluster.client() as c:  # the queue: two arrays of three tasks, no more
        queued = c.jobs(name=["crash-retry"], expand_arrays=True)
    assert sorted(j["id"] for j in queued) == sorted(ids + other)
    with contextlib.suppress(Exception), cluster.client() as c:
        for i in ids + other:
            c.cancel(i)


def test_corral_submit_with_a_key_submits_once(cluster: Cluster) -> None:
    def submit(wrap: str) -> subprocess.CompletedProcess[str]:
        return cluster.corral("submit", "--parsable", "--hold", "--idempotency-key",
                              "nightly-2026-11-29", "-J", "nightly", "--wrap", wrap,
                              check=False)
    first, again = submit("echo hi"), submit("echo hi")
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert first.stdout == again.stdout
    other = submit("echo bye")
    assert other.returncode == 1
    assert other.stderr.strip() == ("corral submit: error: idempotency_key: "
                                    f"'nightly-2026-11-29' was used for job "
                                    f"{first.stdout.strip()}, with a different request")
    assert _named(cluster, "nightly") == [int(first.stdout)]
