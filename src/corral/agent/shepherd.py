"""The node's fork server for run supervisors: one warm interpreter that forks each
run's supervisor (corral.agent.supervise) instead of the agent starting a new
Python per run.

    python -I -S shepherd.py SOCKET_FD

The agent holds the other end of a SOCK_SEQPACKET socket pair. Each request is one
message: the run's directory (UTF-8), with the descriptors the supervisor gets as
its stdout (the "PID START" line for the agent) and stderr (the wrapper's early
stderr), and first its stdin (the gate) when the message starts with "G\\0". The
shepherd forks; the child leaves the shepherd (its own session, the descriptors on
0, 1, 2, nothing else of the shepherd's open, default SIGCHLD) and runs
supervise.main on the directory, exactly as a supervisor started by exec would; the
shepherd answers with the child's pid ("PID\\n") and reaps it when it ends.

A supervisor does not need its shepherd once forked: killed, or at the agent's end
(EOF on the socket: the shepherd then exits), its supervisors are re-parented and
go on, followed by the agent through their pidfd and re-adopted by a restarted
agent from the spool as before (corral.agent.readopt). Which process supervises a
run is settled by the run's claim file (supervise.claim), so a request the agent
could not see answered never starts the run twice (corral.agent.spawn).

Like the supervisor, it imports nothing of corral and none of the standard
library's pure-Python modules it can do without: every supervisor it forks
carries what it has imported.
"""

from __future__ import annotations

import os
import select
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    import socket
else:
    import _signal as signal
    import _socket as socket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import supervise  # noqa: E402  (the sibling module, imported by path under -I)

supervise.loads("{}")  # its C JSON halves (_json), imported once here, not per run

MAX_MESSAGE_BYTES = 8192
IDLE_REAP_S = 5.0  # reap at least this often, should a SIGCHLD's wake-up be missed


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _cmsg_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds.extend(int.from_bytes(data[i:i + 4], sys.byteorder, signed=True)
                       for i in range(0, usable, 4))
    return fds


def _child(run_dir: str, stdin: int | None, stdout: int, stderr: int,
           keep_closed: list[int]) -> None:
    """The forked supervisor: never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in keep_closed:
            os.close(fd)
        os.setsid()
        os.chdir("/")
        if stdin is None:
            stdin = os.open(os.devnull, os.O_RDONLY)
        for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
            os.dup2(fd, target)
        for fd in {stdin, stdout, stderr} - {0, 1, 2}:
            os.close(fd)
        code = supervise.main(["supervise", run_dir])
    except BaseException as exc:  # the child must never return to the shepherd's loop
        try:
            os.write(2, f"supervisor: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(1)
    os._exit(code)


def serve(sock: socket.socket) -> int:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the agent's end is EOF on the socket
    while True:
        ready, _, _ = select.select([sock.fileno(), wake_r], [], [], IDLE_REAP_S)
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        _reap()
        if sock.fileno() not in ready:
            continue
        try:
            data, ancillary, _, _ = sock.recvmsg(MAX_MESSAGE_BYTES,
                                                 socket.CMSG_SPACE(3 * 4))
        except InterruptedError:
            continue
        except OSError:
            return 0
        fds = _cmsg_fds(ancillary)
        if not data:
            for fd in fds:
                os.close(fd)
            return 0  # the agent has gone
        gated = data.startswith(b"G\0")
        run_dir = (data[2:] if gated else data).decode()
        if len(fds) != (3 if gated else 2):
            for fd in fds:
                os.close(fd)
            sock.send(b"0\n")
            continue
        stdin = fds[0] if gated else None
        stdout, stderr = fds[-2], fds[-1]
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            _child(run_dir, stdin, stdout, stderr, [sock.fileno(), wake_r, wake_w])
        for fd in fds:
            os.close(fd)
        try:
            sock.send(f"{max(pid, 0)}\n".encode())
        except OSError:
            return 0


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    sock.setblocking(True)
    os.chdir("/")
    return serve(sock)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
