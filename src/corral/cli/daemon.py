"""`corral up` / `corral down`: the embedded default on this machine.

`up` writes a configuration on first start, starts the controller (SQLite in the
state directory) and one local agent in the background, and returns once the node
has registered. It is idempotent: what already runs is left alone. Whether a
daemon runs is told by the lock it holds (`controller.lock` in the state directory,
`agent.lock` in the agent's spool), so neither a stale pid file, nor a reused pid,
nor a killed controller left as a zombie fools it. A restarted agent re-adopts the
jobs its predecessor left running: `up` never starts a second copy of a job.

`down` says what becomes of the running jobs: they keep running under their
supervisors for up to the node lease (`controller.node_lease_s`); an `up` within
that time takes them back, else they are killed and end NODE_FAIL (or requeued).
"""

from __future__ import annotations

import contextlib
import fcntl
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

# how long `corral up` waits for a daemon that is alive but not yet answering: a
# controller's imports alone can take tens of seconds on a heavily loaded machine
START_TIMEOUT_S = 60.0


def _state_dir() -> Path:
    from corral.config import default_state_dir
    return Path(default_state_dir())


CONTROLLER_MODULE = "corral.api.server"
AGENT_MODULE = "corral.agent.main"


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed, unreaped process)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:][:1] not in (b"Z", b"X")


def _runs(pid: int, module: str) -> bool:
    """`pid` is alive and runs `python -m module` (not some process that reused it)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return _alive(pid) and module.encode() in argv


def _locked(path: Path) -> bool:
    """Some process holds the daemon's lock file (it dies with its holder)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _pid(path: Path, module: str, lock: Path | None = None) -> int | None:
    """The daemon's pid if it runs: its lock is held, or its pid runs its module."""
    try:
        pid: int | None = int(path.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None and _runs(pid, module):
        return pid
    if lock is not None and _locked(lock):
        return pid or -1
    return None


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
    if _pid(state / "controller.pid", CONTROLLER_MODULE, state / "controller.lock") is None:
        proc = _spawn([sys.executable, "-m", "corral.api.server"], ctl_log, env)
        _wait("the controller", lambda: bool(client.status()), proc, ctl_log)
        click.echo(f"controller started (pid {proc.pid}), socket {cfg.socket_path}")
    else:
        click.echo("controller already running")

    node = node_name or (cfg.nodes[0].name if cfg.nodes else socket.gethostname().split(".")[0])
    agent_log = state / "agent.log"
    agent_pidfile = state / "agent.pid"
    if _pid(agent_pidfile, AGENT_MODULE, state / "spool" / "agent.lock") is None:
        argv = [sys.executable, "-m", AGENT_MODULE, "--controller", url,
                "--node", node, "--spool", str(state / "spool"),
                "--log-format", cfg.controller.log_format]
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


def _stop(name: str, pidfile: Path, module: str) -> None:
    pid = _pid(pidfile, module)
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


def _running_jobs() -> list[int]:
    """The jobs the controller has running (none if it cannot be asked)."""
    try:
        with Client() as c:
            return [int(j["id"]) for j in c.jobs()
                    if j.get("state") in ("RUNNING", "SUSPENDED", "COMPLETING")]
    except (CorralError, OSError, KeyError, ValueError):
        return []


@click.command("down")
def down() -> None:
    from corral.config import load_config

    state = _state_dir()
    running = _running_jobs()
    if running:
        try:
            lease_s = load_config(str(state)).controller.node_lease_s
        except CorralError:
            lease_s = 20
        ids = " ".join(str(j) for j in running[:20]) + (" …" if len(running) > 20 else "")
        click.echo(f"{len(running)} running job(s) ({ids}) keep running without corral for "
                   f"up to {lease_s} s (controller.node_lease_s): `corral up` within that "
                   "time takes them back; after it they are killed and end NODE_FAIL, or "
                   "are requeued if requeueable.")
    _stop("agent", state / "agent.pid", AGENT_MODULE)
    _stop("controller", state / "controller.pid", CONTROLLER_MODULE)
