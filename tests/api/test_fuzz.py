"""Property-based fuzzing of the whole REST API (schemathesis), on each store.

The real app and controller run in this process, served by uvicorn on a loopback
port: user routes answer as the controller's own uid (an administrator, who can
reach every route), agent routes as a TCP peer with the cluster key. Every operation
gets valid and invalid requests (schema-conforming and not) within a time budget
(CORRAL_FUZZ_BUDGET_S per store, default 45 s). Any 5xx, a store failure (where the
controller would exit) or a scheduler that stops passing fails the test; the number
of cases run and of 5xx is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import create_engine, text

import corral.services.runtime as runtime_module
from corral.api.app import create_app
from corral.api.peercred import SCOPE_KEY
from corral.config import load_config
from corral.services.controller import Controller
from corral.store.db import make_engine, migrate
from tests.conftest import PG_URL

KEY = "fuzz-cluster-key"
BUDGET_S = float(os.environ.get("CORRAL_FUZZ_BUDGET_S", "45"))


class _Peer:
    """Callers as the socket would say: user routes from the controller's uid, agent
    routes from TCP (no uid), where only the cluster key lets them in."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            agent = scope["path"].startswith("/agent/")
            scope[SCOPE_KEY] = None if agent else os.getuid()
        await self.app(scope, receive, send)


class _NoExit:
    """Stands for `os` in the controller's runtime: a store failure, where the controller
    would exit, is recorded (and fails the request) instead of ending pytest."""

    def __init__(self, exits: list[int]) -> None:
        self.exits = exits

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _exit(self, code: int) -> None:
        self.exits.append(code)
        raise RuntimeError(f"the controller would exit ({code})")


class _Served:
    """The app and its controller on their own event loop, in a thread."""

    def __init__(self, state: Path, database: str | None) -> None:
        (state / "corral.toml").write_text(
            f'[controller]\ncluster_key = "{KEY}"\n'
            + (f'database = "{database}"\n' if database else "")
            + '[[partitions]]\nname = "main"\ndefault = true\nmax_time_s = "1:00:00"\n'
            'nodes = ["n1"]\n'
            '[[partitions]]\nname = "long"\nnodes = ["n1"]\n'
            '[[partitions]]\nname = "after"\nnodes = ["fresh"]\n')
        self.cfg = load_config(str(state))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.ready = threading.Event()
        self.ctl: Controller | None = None
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        engine = make_engine(self.cfg.database_url)
        migrate(engine)
        self.ctl = Controller(self.cfg, engine)
        await self.ctl.start()
        app = create_app(self.ctl)
        config = uvicorn.Config(_Peer(app), lifespan="off", log_level="critical",
                                access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        serve = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            await asyncio.sleep(0.01)
        self.ready.set()
        try:
            await serve
        finally:
            self.ctl.orders.wake_all()
            await self.ctl.stop()
            engine.dispose()

    def __enter__(self) -> _Served:
        self.thread.start()
        assert self.ready.wait(30), "the controller did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(20)


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None
        return
    try:
        admin = create_engine(PG_URL)
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:
        if os.environ.get("CORRAL_TEST_NO_PG") == "1":
            pytest.skip(f"PostgreSQL unreachable at {PG_URL}: {e}")
        raise
    schema = f"corral_fuzz_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{PG_URL}?schema={schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


class _SliceOver(BaseException):
    """An operation's share of the budget is spent (a BaseException: Hypothesis lets
    it through at once instead of taking it for a failing example)."""


def _tame(case: Any) -> None:
    """No long waits: the long-poll and wait times a request asks (or leaves at their
    defaults of 20 and 60 s) are cut to 0.05 s."""
    if case.path == "/v1/jobs/{job_id}/wait":
        if case.query is None:
            case.query = {}
        _cap(case.query, "timeout_s")
    if case.path == "/agent/v1/poll" and isinstance(case.body, dict):
        _cap(case.body, "wait_s")


def _cap(part: Any, key: str) -> None:
    if not isinstance(part, dict):
        return
    value = part.get(key, 60.0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        part[key] = min(value, 0.05)


def _ground(case: Any, n: int, known: list[int]) -> None:
    """Every other case is pointed at what exists (a job id, the registered node, a job
    that can be accepted), so that fuzzing reaches past the first lookups."""
    if n % 2:
        return
    params = case.path_parameters
    if isinstance(params, dict) and "job_id" in params and known:
        params["job_id"] = known[(n // 2) % len(known)]
    body = case.body
    if not isinstance(body, dict):
        return
    if case.method == "POST" and case.path == "/v1/jobs":
        for key in ("partition", "qos", "reservation", "user", "account", "dependency",
                    "features", "mem_mb_per_node", "time_limit_s", "stdout", "stderr"):
            body.pop(key, None)
        body.update(working_dir="/tmp", interactive=False, nodes=1, gpus_per_node=0,
                    cpus_per_node=1, name="fuzz")
        if not body.get("argv") and not body.get("script"):
            body["argv"] = ["true"]
    if case.path.startswith("/agent/"):
        body.update(node="n1", boot_id="b1")
        items = [item for key in ("running", "reports") if isinstance(body.get(key), list)
                 for item in body[key]]  # the fuzzer sends any type here: only lists
        for item in items:
            if isinstance(item, dict) and known:
                item["job_id"] = known[(n // 2) % len(known)]


@pytest.mark.timeout(BUDGET_S * 3 + 120)
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def test_no_request_gets_a_5xx_or_stops_the_controller(tmp_path: Path, backend: str) -> None:
    exits: list[int] = []
    with _database(backend) as database, _Served(tmp_path, database) as served:
        mp = pytest.MonkeyPatch()
        mp.setattr(runtime_module, "os", _NoExit(exits))  # where a failed commit exits
        try:
            _fuzz(served, exits)
        finally:
            mp.undo()


def _fuzz(served: _Served, exits: list[int]) -> None:
    agent = {"X-Corral-Cluster-Key": KEY}
    with httpx.Client(base_url=served.url, timeout=30) as http:
        r = http.post("/agent/v1/register", headers=agent,
                      json={"node": "n1", "cpus": 4, "mem_mb": 8000, "boot_id": "b1"})
        assert r.status_code == 200, r.text
        spec = http.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    counts: Counter[str] = Counter()
    failures: list[str] = []
    known: list[int] = []  # ids of jobs accepted so far
    slice_s = BUDGET_S / (2 * len(operations))
    slice_end = {"t": 0.0}
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            slice_end["t"] = time.monotonic() + slice_s

            @settings(max_examples=10_000, deadline=None, database=None, derandomize=False,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def one(case: Any) -> None:
                if time.monotonic() > slice_end["t"]:
                    raise _SliceOver
                _ground(case, counts["cases"], known)
                _tame(case)
                response = case.call(base_url=served.url, headers=agent, timeout=30)
                counts["cases"] += 1
                if response.status_code == 201 and case.path == "/v1/jobs":
                    counts["accepted"] += 1
                    known.extend(response.json()["ids"][:5])
                if response.status_code >= 500:
                    counts["5xx"] += 1
                    if len(failures) < 20:
                        failures.append(f"{case.method} {case.formatted_path} "
                                        f"query={case.query!r} body={_body(case)}: "
                                        f"{response.status_code} {response.text[:200]}")
            with contextlib.suppress(_SliceOver, Unsatisfiable):  # nothing to make invalid
                one()
    print(f"\nfuzzing: {counts['cases']} cases over {len(operations)} operations "
          f"({counts['accepted']} jobs accepted), {counts['5xx']} answered 5xx, "
          f"{len(exits)} store failures")
    assert not exits, f"the controller would have exited {len(exits)} time(s)"
    assert not failures, "\n".join(failures)
    assert counts["cases"] >= 2 * len(operations)
    _still_schedules(served)


def _body(case: Any) -> str:
    return repr(case.body)[:300] if isinstance(case.body, dict | list | str | bytes) else "-"


def _still_schedules(served: _Served) -> None:
    """Afterwards the controller still answers and schedules: a new job starts (on a
    node of its own partition, registered now, so that no fuzzed job competes)."""
    with httpx.Client(base_url=served.url, timeout=30) as http:
        agent = {"X-Corral-Cluster-Key": KEY}
        r = http.post("/agent/v1/register", headers=agent,
                      json={"node": "fresh", "cpus": 1, "mem_mb": 100, "boot_id": "f"})
        assert r.status_code == 200, r.text
        r = http.post("/v1/jobs", json={"name": "after", "working_dir": "/tmp",
                                        "argv": ["true"], "partition": "after"})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if http.get(f"/v1/jobs/{job_id}").json()["state"] == "RUNNING":
                break
            time.sleep(0.2)
        job = http.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] == "RUNNING", job
