"""Controllers that take over, for end-to-end tests and bench/takeover.py: several
controller processes on one PostgreSQL schema, agents and clients given all their
addresses."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from corral.client import Client

KEY = "takeover-cluster-key-1234"
PG_URL = os.environ.get("CORRAL_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ctl:
    state: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    ip: str = "127.0.0.1"
    ns: str | None = None  # the network namespace it runs in

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def socket(self) -> str:
        return f"unix://{self.state / 'corral.sock'}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return (self.state / "controller.log").read_text(errors="replace")


@dataclass
class HA:
    root: Path
    schema: str
    env: dict[str, str]
    ctls: list[Ctl] = field(default_factory=list)
    agents: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pg_url: str = PG_URL  # as the controllers reach it

    @property
    def db_url(self) -> str:
        return f"{self.pg_url}?schema={self.schema}"

    @property
    def client_url(self) -> str:
        return ",".join(c.socket for c in self.ctls)

    def client(self, timeout_s: float | None = None) -> Client:
        return Client(self.client_url, timeout_s=timeout_s)

    def add_controller(self, *, lease_s: float = 2.0, start: bool = True,
                       ip: str = "127.0.0.1", ns: str | None = None,
                       extra: str = "") -> Ctl:
        """`extra`: more lines of its [controller] section."""
        i = len(self.ctls)
        state = self.root / f"ctl{i}"
        state.mkdir()
        state.chmod(0o755)
        port = free_port()
        (state / "corral.toml").write_text(f"""
[controller]
database = "{self.db_url}"
listen = "{ip}:{port}"
cluster_key = "{KEY}"
leader_lease_s = {lease_s}
node_timeout_s = 60
kill_grace_s = 1
{extra}

[[partitions]]
name = "main"
default = true
max_time_s = "1-00:00:00"
default_time_s = "1:00:00"
""")
        c = Ctl(state=state, port=port, ip=ip, ns=ns)
        self.ctls.append(c)
        if start:
            self.start(c)
        return c

    def start(self, c: Ctl) -> None:
        env = {**self.env, "CORRAL_STATE_DIR": str(c.state)}
        with open(c.state / "controller.log", "ab") as log:
            netns = ["ip", "netns", "exec", c.ns] if c.ns else []
            c.proc = subprocess.Popen([*netns, sys.executable, "-m", "corral.api.server"],
                                      env=env,
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                      start_new_session=True)

    def add_agent(self, node: str, cpus: int = 4) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{node}.log", "ab")  # noqa: SIM115 - the process's
        urls = ",".join(c.url for c in self.ctls)
        p = subprocess.Popen(
            [sys.executable, "-m", "corral.agent.main", "--controller", urls,
             "--cluster-key", KEY, "--node", node, "--cpus", str(cpus), "--no-cgroups",
             "--spool", str(self.root / f"spool-{node}")],
            env=self.env, stdout=log, stderr=log, start_new_session=True)
        self.agents.append(p)
        return p

    def controllers(self) -> dict[str, Any]:
        with self.client(timeout_s=5) as c:
            return c.controllers()

    def other(self, c: Ctl) -> Ctl:
        """The first controller that is not `c` (with two: the other one)."""
        return next(o for o in self.ctls if o is not c)

    def leader(self, timeout_s: float = 20.0) -> Ctl:
        """The controller that leads once one does, by the store, and serves."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for c in self.ctls:
                if not c.alive():
                    continue
                with contextlib.suppress(Exception), Client(c.socket, timeout_s=2) as cl:
                    leader = cl.controllers()["leader"]
                    if leader and leader["address"] == c.url:
                        cl.status()
                        return c
            time.sleep(0.05)
        raise AssertionError("no controller leads:\n" + "\n".join(
            f"--- {c.url} ({'alive' if c.alive() else 'dead'}) ---\n{c.log()[-1500:]}"
            for c in self.ctls))

    def wait_nodes(self, names: set[str], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception), self.client(timeout_s=5) as c:
                nodes = c.status()["nodes"]
                if all(nodes.get(n) in ("IDLE", "MIXED", "ALLOCATED") for n in names):
                    return
            time.sleep(0.1)
        raise AssertionError(f"nodes {names} did not register")

    def stop(self) -> None:
        for p in self.agents:
            if p.poll() is None:
                p.terminate()
        for p in self.agents:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(10)
            if p.poll() is None:
                p.kill()
        for c in self.ctls:
            if c.alive():
                assert c.proc is not None
                c.proc.send_signal(signal.SIGTERM)
        for c in self.ctls:
            if c.proc is not None:
                try:
                    c.proc.wait(10)
                except subprocess.TimeoutExpired:
                    c.proc.kill()
                    c.proc.wait(5)
        # the jobs left running under their supervisors (they would last their lease)
        for procs in self.root.glob("spool-*/job*/run*/procs.json"):
            with contextlib.suppress(Exception):
                data = json.loads(procs.read_text())
                with contextlib.suppress(OSError):
                    os.killpg(int(data["job_pid"]), signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.kill(int(data["supervisor_pid"]), signal.SIGKILL)


@contextlib.contextmanager
def ha_cluster() -> Iterator[HA]:
    schema = f"corral_ha_{uuid.uuid4().hex[:12]}"
    root = Path(tempfile.mkdtemp(prefix="corral-ha-"))
    root.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "SLURM_"))}
    if "CORRAL_TEST_PG_URL" in os.environ:
        env["CORRAL_TEST_PG_URL"] = os.environ["CORRAL_TEST_PG_URL"]
    ha = HA(root=root, schema=schema, env=env)
    try:
        yield ha
    finally:
        ha.stop()
        shutil.rmtree(root, ignore_errors=True)
        admin = create_engine(PG_URL)
        try:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            admin.dispose()
