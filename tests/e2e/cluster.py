"""A real corral on this machine for end-to-end tests: controller + agent processes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.client import Client
from corral.model.states import FINAL_JOB_STATES

FINAL = FINAL_JOB_STATES


@dataclass
class Cluster:
    state: Path
    env: dict[str, str] = field(default_factory=dict)
    # the agents started by start_agent, by node (the one of `corral up` is not here)
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def corral(self, *args: str, check: bool = True, input: str | None = None,
               cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "corral.cli", *args], env=self.env,
                              capture_output=True, text=True, input=input,
                              cwd=cwd or self.state, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"corral {' '.join(args)} exited {proc.returncode}: "
                                 f"{proc.stderr}{proc.stdout}")
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc

    def client(self) -> Client:
        return Client(f"unix://{self.state / 'corral.sock'}")

    def show(self, job_id: int) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.corral("show", str(job_id), "--json").stdout)
        return out

    def wait(self, job_id: int, timeout_s: float = 30) -> dict[str, Any]:
        with self.client() as c:
            return c.wait(job_id, timeout_s=timeout_s)

    def wait_state(self, job_id: int, states: set[str], timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self.client() as c:
            while True:
                job = c.job(job_id)
                if job["state"] in states or time.monotonic() > deadline:
                    return job
                time.sleep(0.05)

    def pid(self, name: str) -> int:
        return int((self.state / f"{name}.pid").read_text().strip())

    def kill9_controller(self) -> None:
        pid = self.pid("controller")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def start_controller(self, timeout_s: float = 20) -> None:
        with open(self.state / "controller.log", "ab") as log:
            subprocess.Popen([sys.executable, "-m", "corral.api.server"], env=self.env,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with self.client() as c:
                    c.status()
                return
            except Exception:
                time.sleep(0.05)
        raise AssertionError(f"controller did not (re)start in {timeout_s} s")

    def agent_log(self, node: str) -> Path:
        return self.state / f"{node}.log"

    def start_agent(self, node: str, *, cpus: int = 2, controller: str | None = None,
                    cluster_key: str | None = None, args: Sequence[str] = (),
                    prefix: Sequence[str] = (), env: dict[str, str] | None = None,
                    ready_line: bool = False) -> subprocess.Popen[bytes]:
        """An agent for `node` (spool spool-NODE and log NODE.log in the state
        directory), reaching `controller` (by default the local socket) with
        `cluster_key`; `prefix`: words run before it (e.g. `ip netns exec NS`).
        `ready_line`: the agent logs to its --log-file and its stdout is a pipe, for
        what `prefix` prints before it. Stopped by stop_agents or down."""
        url = controller or f"unix://{self.state / 'corral.sock'}"
        log = self.agent_log(node)
        argv = [*prefix, sys.executable, "-m", "corral.agent.main", "--controller", url,
                *(("--cluster-key", cluster_key) if cluster_key else ()),
                "--node", node, "--cpus", str(cpus), *args,
                "--spool", str(self.state / f"spool-{node}")]
        if ready_line:
            proc = subprocess.Popen([*argv, "--log-file", str(log)], env=env or self.env,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        else:
            with open(log, "ab") as out:
                proc = subprocess.Popen(argv, env=env or self.env, stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=out, start_new_session=True)
        self.agents[node] = proc
        return proc

    def wait_idle(self, *nodes: str, timeout_s: float = 30) -> None:
        """Until every one of `nodes` is IDLE; an AssertionError naming their states
        (and the end of the log of any agent of theirs that exited, or of all on a
        timeout) otherwise."""
        deadline = time.monotonic() + timeout_s
        with self.client() as cl:
            while True:
                states = cl.status()["nodes"]
                if all(states.get(n) == "IDLE" for n in nodes):
                    return
                exited = [n for n in nodes if n in self.agents
                          and self.agents[n].poll() is not None]
                if exited or time.monotonic() > deadline:
                    what = f"the agents of {exited} exited" if exited else \
                        f"not IDLE in {timeout_s} s"
                    raise AssertionError(f"nodes {list(nodes)}: {what}: {states}\n"
                                         + self._logs(exited or nodes))
                time.sleep(0.1)

    def _logs(self, nodes: Sequence[str]) -> str:
        return "\n".join(f"--- {n}.log ---\n{self.agent_log(n).read_text()[-2000:]}"
                         for n in nodes if self.agent_log(n).exists())

    def stop_agents(self, *nodes: str) -> None:
        """Stop the agents of `nodes` (all started by start_agent when none is named):
        SIGTERM, then SIGKILL for one still running 10 s later."""
        procs = [self.agents.pop(n) for n in (nodes or list(self.agents)) if n in self.agents]
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
            if p.stdout is not None:
                p.stdout.close()

    def down(self) -> None:
        self.stop_agents()
        subprocess.run([sys.executable, "-m", "corral.cli", "down"], env=self.env,
                       capture_output=True, timeout=60)
        for name in ("agent", "controller"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(self.pid(name), signal.SIGKILL)


def make_cluster(root: Path, *, cpus: int = 2, extra_config: str = "",
                 controller_config: str = "", policy: str = "easy",
                 kill_grace_s: int = 1, scheduler_config: str = "",
                 env_extra: dict[str, str] | None = None) -> Cluster:
    state = root / "state"
    state.mkdir(parents=True)
    state.chmod(0o755)
    (state / "corral.toml").write_text(f"""
[controller]
node_timeout_s = 30
kill_grace_s = {kill_grace_s}
{controller_config}

[scheduler]
policy = "{policy}"
{scheduler_config}

[[partitions]]
name = "main"
default = true
max_time_s = "1-00:00:00"
default_time_s = "1:00:00"

[[nodes]]
name = "node1"
cpus = {cpus}
{extra_config}
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "SLURM_"))}
    env["CORRAL_STATE_DIR"] = str(state)
    env.update(env_extra or {})
    c = Cluster(state=state, env=env)
    try:
        c.corral("up", "--node", "node1")
    except BaseException:  # a controller slower to start than `corral up` waits for
        deadline = time.monotonic() + 60  # (a loaded machine) is not left behind
        while not (state / "controller.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        c.down()
        raise
    return c


@contextlib.contextmanager
def temp_cluster(prefix: str, **options: Any) -> Iterator[Cluster]:
    """make_cluster(root, **options) in a new directory (mkdtemp `prefix`), stopped and
    the directory removed on the way out."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        root.chmod(0o755)
        c = make_cluster(root, **options)
        try:
            yield c
        finally:
            c.down()
    finally:
        shutil.rmtree(root, ignore_errors=True)
