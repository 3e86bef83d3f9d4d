"""A client given several controllers finds the one that leads."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from corral.client.transport import Transport
from corral.model.errors import NotLeader, Unavailable


def _server(path: str, status: bytes, body: dict[str, object], hits: list[str]) -> None:
    """Answers every request on `path` with `status` and `body` (each connection
    closed after one answer)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    data = json.dumps(body).encode()

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            f = conn.makefile("rb")
            f.readline()
            while f.readline() not in (b"\r\n", b""):
                pass
            hits.append(path)
            conn.sendall(b"HTTP/1.1 " + status + b"\r\nconnection: close\r\ncontent-length: "
                         + str(len(data)).encode() + b"\r\n\r\n" + data)
            f.close()
            conn.close()
    threading.Thread(target=serve, daemon=True).start()


def test_a_follower_names_the_leader_and_a_dead_one_is_skipped(tmp_path: Path) -> None:
    dead, follower, other, leader = (str(tmp_path / f"{n}.sock")
                                     for n in ("dead", "follower", "other", "leader"))
    hits: list[str] = []
    _server(follower, b"503 Service Unavailable",
            {"error": "not_leader", "message": "this controller does not lead",
             "leader": f"unix://{leader}"}, hits)
    _server(other, b"503 Service Unavailable",
            {"error": "not_leader", "message": "no", "leader": None}, hits)
    _server(leader, b"200 OK", {"version": "x"}, hits)
    t = Transport(f"unix://{dead},unix://{follower},unix://{other},unix://{leader}",
                  timeout_s=5)
    assert t.request("GET", "/v1/status") == {"version": "x"}
    # the dead one skipped, the follower asked once, then straight to the leader it named
    assert hits == [follower, leader]
    assert t.url == f"unix://{leader}"
    assert t.request("GET", "/v1/status") == {"version": "x"}  # it stays there
    assert hits[-1] == leader


def test_no_leader_at_all_fails_in_bounded_time(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_FAILOVER_S", "0.5")
    a, b = str(tmp_path / "a.sock"), str(tmp_path / "b.sock")
    hits: list[str] = []
    for p in (a, b):
        _server(p, b"503 Service Unavailable",
                {"error": "not_leader", "message": "this controller does not lead",
                 "leader": None}, hits)
    t = Transport(f"unix://{a},unix://{b}", timeout_s=5)
    with pytest.raises(Unavailable, match="no leader found among 2 controllers"):
        t.request("GET", "/v1/status")
    assert {a, b} <= set(hits) and len(hits) < 100
    # one address: the follower's answer as it is, naming no leader
    single = Transport(f"unix://{a}", timeout_s=5)
    with pytest.raises(NotLeader):
        single.request("GET", "/v1/status")


def test_a_submit_goes_on_to_the_leader_after_a_frozen_controller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follower names the old leader, which is frozen (it takes the connection and
    never answers) for longer than the whole failover window: the submit, safe to
    repeat, still reaches the new leader once the frozen one's wait is over."""
    monkeypatch.setenv("CORRAL_FAILOVER_S", "0.5")
    follower, frozen, leader = (str(tmp_path / f"{n}.sock")
                                for n in ("follower", "frozen", "leader"))
    hits: list[str] = []
    _server(follower, b"503 Service Unavailable",
            {"error": "not_leader", "message": "this controller does not lead",
             "leader": f"unix://{frozen}"}, hits)
    still = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    still.bind(frozen)
    still.listen(8)  # never accepted: a stopped process's socket
    _server(leader, b"200 OK", {"id": 7}, hits)
    t = Transport(f"unix://{follower},unix://{frozen},unix://{leader}", timeout_s=1)
    try:
        answer = t.request("POST", "/v1/jobs", body={}, retry_s=0.5,
                           headers={"Idempotency-Key": "k"})
    finally:
        still.close()
    assert answer == {"id": 7}
    assert hits == [follower, leader]
