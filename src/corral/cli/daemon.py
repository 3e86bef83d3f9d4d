"""`corral up` / `corral down`: the embedded default on this machine.

`up` writes a configuration on first start, starts the controller (SQLite in the
state directory) and one local agent in the background, and returns once the node
has registered. It is idempotent: what already runs is left alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click

from corral.client import Client
from corral.model.errors import CorralError

START_TIMEOUT_S = 20.0


def _state_dir() -> Path:
    from corral.config import default_state_dir
    return Path(default_state_dir())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _spawn(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, env=env, close_fds=True)


def _wait(what: str, check: object, proc: subprocess.Popen[bytes] | None, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise click.ClickException(f"{what} exited at start-up: " + " | ".join(tail))
        try:
            if check():  # type: ignore[operator]
                return
        except CorralError:
            pass
        time.sleep(0.05)
    raise click.ClickException(f"{what} did not come up within {START_TIMEOUT_S:.0f} s "
                               f"(see {log})")


@click.command("up")
@click.option("--node", "node_name", help="The local node's name (default: the hostname).")
def up(node_name: str | None) -> None:
    from corral.config import config_path, default_config_text, load_config

    state = _state_dir()
    state.mkdir(parents=True, exist_ok=True)
    cfg_file = Path(config_path(str(state)))
    if not cfg_file.exists():
        cfg_file.write_text(default_config_text(node_name))
        click.echo(f"wrote {cfg_file}")
    try:
        cfg = load_config(str(state))
    except CorralError as e:  # a bad configuration file: a failure, not bad usage
        raise click.ClickException(str(e)) from None
    env = dict(os.environ, CORRAL_STATE_DIR=str(state))
    url = f"unix://{cfg.socket_path}"
    client = Client(url)

    ctl_log = state / "controller.log"
    if _pid(state / "controller.pid") is None:
        proc = _spawn([sys.executable, "-m", "corral.api.server"], ctl_log, env)
        _wait("the controller", lambda: bool(client.status()), proc, ctl_log)
        click.echo(f"controller started (pid {proc.pid}), socket {cfg.socket_path}")
    else:
        click.echo("controller already running")

    node = node_name or (cfg.nodes[0].name if cfg.nodes else socket.gethostname().split(".")[0])
    agent_log = state / "agent.log"
    agent_pidfile = state / "agent.pid"
    if _pid(agent_pidfile) is None:
        argv = [sys.executable, "-m", "corral.agent.main", "--controller", url,
                "--node", node, "--spool", str(state / "spool")]
        ncfg = next((n for n in cfg.nodes if n.name == node), None)
        if ncfg is not None:
            if ncfg.cpus:
                argv += ["--cpus", str(ncfg.cpus)]
            if ncfg.mem_mb:
                argv += ["--mem-mb", str(ncfg.mem_mb)]
            if ncfg.gpus is not None:
                argv += ["--gpus", str(ncfg.gpus)]
            if ncfg.features:
                argv += ["--features", ",".join(ncfg.features)]
        proc = _spawn(argv, agent_log, env)
        agent_pidfile.write_text(f"{proc.pid}\n")

        def registered() -> bool:
            return client.status()["nodes"].get(node) not in (None, "DOWN")
        _wait(f"the agent of node {node}", registered, proc, agent_log)
        click.echo(f"agent started (pid {proc.pid}), node {node}")
    else:
        click.echo("agent already running")
    client.close()


def _stop(name: str, pidfile: Path) -> None:
    pid = _pid(pidfile)
    if pid is None:
        click.echo(f"{name} not running")
        pidfile.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    click.echo(f"{name} stopped")


@click.command("down")
def down() -> None:
    state = _state_dir()
    _stop("agent", state / "agent.pid")
    _stop("controller", state / "controller.pid")
