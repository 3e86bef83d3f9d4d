"""Starting a run's supervisor: forked by the node's shepherd, else by exec.

The shepherd (corral.agent.shepherd) is a warm interpreter the agent starts on its
first run and talks to over a socket pair; it forks each supervisor, which saves
the new Python a supervisor started by exec costs (most of a trivial job's CPU).
The supervisor it forks is the same code (supervise.main) and keeps every
guarantee: it outlives the agent and the shepherd, checks the lease, writes the
exit status, and a restarted agent re-adopts it from the spool.

A request that is known not to have arrived (the shepherd was gone when it was
sent) is sent again to a new shepherd; if none can be started, the supervisor is
started by exec. A request that arrived but was not answered (the shepherd died or
hung in between) is never sent again: the run's claim file says whether a
supervisor took the run, and if none did within CLAIM_WAIT_S the agent claims it
itself, so none ever will, and the run is reported as not started. A run thus
never has two supervisors, nor runs twice.
"""

from __future__ import annotations

import array
import contextlib
import logging
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from corral.agent.supervise import claim, claimed_by

log = logging.getLogger(__name__)

SHEPHERD = str(Path(__file__).with_name("shepherd.py"))
SUPERVISOR = str(Path(__file__).with_name("supervise.py"))
REPLY_TIMEOUT_S = 10.0  # a shepherd that takes longer to fork is taken for hung
CLAIM_WAIT_S = 2.0  # how long an unanswered request's supervisor may take to claim its run
CLAIM_POLL_S = 0.01
AGENT_CLAIM = "agent"


class NotStarted(Exception):
    """The shepherd did not start a supervisor (and none will start): exec one."""


class Unsettled(Exception):
    """No supervisor took the run, and none will (the agent has claimed it)."""


@dataclass(frozen=True, slots=True)
class Started:
    pid: int
    popen: subprocess.Popen[bytes] | None  # started by exec: the agent's child


class Shepherd:
    """The agent's end of its shepherd: started on first use, restarted when gone."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self.starts = 0  # shepherds started (one unless one died)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", SHEPHERD, str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, cwd="/",
                pass_fds=[theirs.fileno()], start_new_session=True, env=self._env)
        except (OSError, ValueError):
            ours.close()
            raise
        finally:
            theirs.close()
        ours.settimeout(REPLY_TIMEOUT_S)
        self._sock = ours
        self.starts += 1
        log.info("shepherd started: pid %d", self._proc.pid)
        return ours

    def _drop(self, *, kill: bool) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if kill:
                with contextlib.suppress(OSError):
                    proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1.0)

    def close(self) -> None:
        """The shepherd exits (EOF); the supervisors it forked go on."""
        self._drop(kill=False)

    def start(self, run_dir: Path, stdin: int | None, stdout: int, stderr: int) -> int:
        """The pid of the run's supervisor, forked by the shepherd; NotStarted if it
        is sure none was; Unsettled if the run has none and will have none."""
        fds = ([] if stdin is None else [stdin]) + [stdout, stderr]
        payload = (b"G\0" if stdin is not None else b"") + str(run_dir).encode()
        message = [payload]
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        for attempt in range(2):
            try:
                sock = self._sock or self._start()
            except (OSError, ValueError) as exc:
                raise NotStarted(f"cannot start the shepherd: {exc}") from None
            try:
                sock.sendmsg(message, rights)
                break
            except OSError as exc:  # it was gone before the request: not received
                log.warning("shepherd gone (%s); starting another", exc)
                self._drop(kill=True)
                if attempt:
                    raise NotStarted(f"the shepherd is gone: {exc}") from None
        try:
            reply = sock.recv(64)
        except OSError as exc:
            reply = b""
            log.warning("shepherd did not answer (%s); stopping it", exc)
        if not reply:  # it may have forked the supervisor, or not: the claim says
            self._drop(kill=True)
            return settle(run_dir)
        pid = int(reply.split()[0])
        if pid <= 0:
            raise NotStarted("the shepherd could not fork")
        return pid


def settle(run_dir: Path) -> int:
    """The supervisor that claimed the run, or (none within CLAIM_WAIT_S) the agent
    claims it: Unsettled."""
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        owner = claimed_by(str(run_dir))
        if owner is None and time.monotonic() >= deadline:
            if claim(str(run_dir), AGENT_CLAIM):
                raise Unsettled("its supervisor did not start")
            owner = claimed_by(str(run_dir))
        if owner is not None:
            if owner == AGENT_CLAIM:
                raise Unsettled("its supervisor did not start")
            return int(owner)
        time.sleep(CLAIM_POLL_S)


def exec_supervisor(run_dir: Path, stdin: int | None, stdout: int, stderr: int,
                    env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The supervisor as a new interpreter, the agent's child."""
    return subprocess.Popen(
        [sys.executable, "-I", "-S", SUPERVISOR, str(run_dir)],
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        stdout=stdout, stderr=stderr, cwd="/", start_new_session=True,
        close_fds=True, env=env)


def start_supervisor(shepherd: Shepherd | None, run_dir: Path, stdin: int | None,
                     stdout: int, stderr: int, env: dict[str, str]) -> Started:
    """Start the run's supervisor, through the shepherd when there is one."""
    if shepherd is not None:
        try:
            return Started(shepherd.start(run_dir, stdin, stdout, stderr), None)
        except NotStarted as exc:
            log.warning("%s; starting the supervisor by exec", exc)
    popen = exec_supervisor(run_dir, stdin, stdout, stderr, env)
    return Started(popen.pid, popen)
