"""A real controller (PostgreSQL store) against hostile requests: a plain user's bad
numbers and names, a cluster-key holder's oversized node; each is a one-line 4xx, the
controller stays up, and other users' jobs still start, also after a restart."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import PG_URL, free_port
from tests.e2e.cluster import Cluster, make_cluster

KEY = "hostile-cluster-key"
NOBODY = 65534


@pytest.fixture
def site() -> Iterator[tuple[Cluster, int]]:
    schema = f"corral_e2e_{uuid.uuid4().hex[:12]}"
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="corral-hostile-"))
    root.chmod(0o755)
    c = make_cluster(root, extra_config='\n[[partitions]]\nname = "long"\n',  # no max_time_s
                     controller_config=(f'database = "{PG_URL}?schema={schema}"\n'
                                        f'listen = "127.0.0.1:{port}"\ncluster_key = "{KEY}"\n'))
    try:
        yield c, port
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def as_user(c: Cluster, uid: int, method: str, path: str,
            body: Any = None) -> tuple[int, dict[str, Any]]:
    """One request over the controller's socket from a process running as `uid` (the
    kernel tells the controller who calls: a plain user, not an administrator)."""
    data = json.dumps(body).encode() if body is not None else b""
    request = (f"{method} {path} HTTP/1.1\r\nHost: corral\r\nConnection: close\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
               ).encode() + data
    sock_path = str(c.state / "corral.sock")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no imports from here on (it may not read the venv)
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(sock_path)
                s.sendall(request)
                while chunk := s.recv(65536):
                    os.write(w, chunk)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    out = b""
    with os.fdopen(r, "rb") as f:
        out = f.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0, "the request could not be sent"
    head, _, payload = out.partition(b"\r\n\r\n")
    code = int(head.split()[1])
    if b"transfer-encoding: chunked" in head.lower():
        payload = _unchunk(payload)
    return code, json.loads(payload)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_text, _, rest = data.partition(b"\r\n")
        size = int(size_text, 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def one_line_4xx(answer: tuple[int, dict[str, Any]], *words: str) -> None:
    status, body = answer
    assert 400 <= status < 500, answer
    message = body["message"]
    assert "\n" not in message and len(message) < 400, message
    for w in words:
        assert w in message, (w, message)


def job(**kw: Any) -> dict[str, Any]:
    return {"name": "x", "working_dir": "/tmp", "argv": ["true"], **kw}


@pytest.mark.pg
def test_hostile_requests_are_refused_and_everybody_else_runs(
        site: tuple[Cluster, int]) -> None:
    c, port = site
    controller_pid = c.pid("controller")
    cases = [
        (job(partition="long", time_limit_s=2**63), ("time_limit_s", "maximum of 2147483647")),
        (job(priority=10**400, hold=True), ("priority", "maximum of 4294967295")),
        (job(nice=-10001), ("nice", "minimum of -10000")),
        (job(dependency=f"afterok:{2**63}"), ("dependency", "maximum of 2147483647")),
        (job(name="a\x00b"), ("name", "U+0000")),
        (job(working_dir="/tmp\x00"), ("working_dir", "U+0000")),
    ]
    for body, words in cases:
        one_line_4xx(as_user(c, NOBODY, "POST", "/v1/jobs", body), *words)
    one_line_4xx(as_user(c, NOBODY, "GET", f"/v1/jobs/{2**63}"), "job_id")
    one_line_4xx(as_user(c, NOBODY, "GET", f"/v1/jobs?history=true&id={2**63}"), "id")

    # A key holder, over TCP: oversized and garbage nodes are refused.
    agent = {"X-Corral-Cluster-Key": KEY}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for body, word in (({"node": "big", "cpus": 4, "mem_mb": 10**20}, "mem_mb"),
                           ({"node": "big", "cpus": 5.5e9, "mem_mb": 1000}, "cpus"),
                           ({"node": "", "cpus": 1, "mem_mb": 1}, "node"),
                           ({"node": "bad\x01name", "cpus": 1, "mem_mb": 1}, "node")):
            r = http.post("/agent/v1/register", headers=agent, json=body)
            one_line_4xx((r.status_code, r.json()), word)
    assert c.pid("controller") == controller_pid
    os.kill(controller_pid, 0)  # still the same, living controller
    assert [n["name"] for n in c.client().nodes()] == ["node1"]

    # Jobs of the plain user and of another user (root) still start and end.
    outdir = c.state.parent / "nobody"
    outdir.mkdir()
    outdir.chmod(0o777)
    status, body = as_user(c, NOBODY, "POST", "/v1/jobs",
                           job(working_dir=str(outdir), name="plain"))
    assert status == 201, body
    assert c.wait(body["id"])["state"] == "COMPLETED"
    root_job = int(c.corral("submit", "--parsable", "--wrap", "true").stdout)
    assert c.wait(root_job)["state"] == "COMPLETED"

    # ... and after a restart of the controller (nothing bad was stored).
    c.kill9_controller()
    c.start_controller()
    again = int(c.corral("submit", "--parsable", "-p", "long", "--wrap", "true").stdout)
    assert c.wait(again)["state"] == "COMPLETED"


@pytest.mark.pg
def test_the_cli_refuses_the_same_values_as_usage_errors(site: tuple[Cluster, int]) -> None:
    c, _ = site
    for args in (["--priority", str(10**400)], ["--nice", "-10001"],
                 ["-p", "long", "-t", "99999999999"], ["-d", f"afterok:{2**63}"],
                 ["-J", "a\x01b"]):
        proc = c.corral("submit", *args, "--wrap", "true", check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if "rror" in line]
        assert len(errors) == 1, proc.stderr
    assert c.corral("jobs", "--json").returncode == 0


@pytest.mark.pg
def test_an_administrator_deletes_an_idle_node_with_the_cli(site: tuple[Cluster, int]) -> None:
    c, port = site
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        r = http.post("/agent/v1/register", headers={"X-Corral-Cluster-Key": KEY},
                      json={"node": "extra", "cpus": 1, "mem_mb": 100, "boot_id": "x"})
        assert r.status_code == 200, r.text
    assert "extra" in [n["name"] for n in c.client().nodes()]
    proc = c.corral("node", "delete", "extra")
    assert proc.stdout.strip() == "extra: deleted"
    proc = c.corral("node", "delete", "extra", check=False)
    assert proc.returncode == 1 and "no such node" in proc.stderr
    c.kill9_controller()
    c.start_controller()  # the store forgot it too
    assert [n["name"] for n in c.client().nodes()] == ["node1"]
