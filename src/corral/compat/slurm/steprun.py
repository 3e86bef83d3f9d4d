"""One job step, client side (srun): ask the controller for the step, then relay.

The client listens on a TCP port of its own; each node's agent connects back once,
says hello with the step's key, and streams its tasks' output and exit statuses
(corral.model.step framing). Standard input goes the other way to the task(s) that
take it. Ctrl-C or SIGTERM cancels the step.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import socket
import sys
import termios
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from corral.client import Client
from corral.compat.slurm.pmi import PmiServer, task_argv
from corral.model.step import (
    FRAME_EXIT,
    FRAME_HEADER,
    FRAME_HELLO,
    FRAME_STDERR,
    FRAME_STDIN,
    FRAME_STDIN_EOF,
    FRAME_STDOUT,
    frame,
    parse_header,
)

CONNECT_WAIT_S = 30.0  # every node's agent must have called back by then
TICK_S = 0.5


@dataclass
class StepOptions:
    argv: list[str]
    name: str
    working_dir: str
    environment: dict[str, str]
    ntasks: int | None = None
    nodes: int | None = None
    cpus_per_task: int = 1
    overcommit: bool = False
    label: bool = False
    stdout: str | None = None
    stderr: str | None = None
    stdin: str = "0"
    nodelist: list[str] | None = None
    distribution: str = "block"
    pty: bool = False  # task 0 in a pseudo terminal; this terminal raw meanwhile
    mpi: str = "none"  # pmi1/pmi2: a PMI server for the step's MPI ranks (pmi.py)


@dataclass
class _Conn:
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)
    node: str | None = None
    ranks: list[int] = field(default_factory=list)


@contextlib.contextmanager
def _raw_terminal(wanted: bool) -> Iterator[None]:
    """With --pty on a terminal: keys go to the task's terminal as typed (Ctrl-C
    included), its echo is the only one; the terminal is restored after."""
    fd = sys.stdin.fileno() if wanted and sys.stdin.isatty() else None
    if fd is None:
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)  # what was typed ahead is kept
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum


def _raise_stop(signum: int, _frame: object) -> None:
    raise _Stopped(signum)


# As Slurm's srun: these are passed on to the step's tasks (Ctrl-C cancels the step).
FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGALRM)


class StepRun:
    def __init__(self, client: Client, job_id: int, opts: StepOptions, prog: str = "srun",
                 out: BinaryIO | None = None, err: BinaryIO | None = None) -> None:
        self.c = client
        self.job_id = job_id
        self.opts = opts
        self.prog = prog
        self.out = out or sys.stdout.buffer
        self.err = err or sys.stderr.buffer
        self.key = secrets.token_hex(16)
        self.sel = selectors.DefaultSelector()
        self.conns: dict[int, _Conn] = {}
        self.exits: dict[int, dict[str, int]] = {}
        self.node_of: dict[int, str] = {}
        self.partial: dict[tuple[int, int], bytes] = {}  # (kind, rank) -> unfinished line
        self.stdin_open = opts.stdin != "none"
        self.stdin_queue: list[bytes | None] = []  # None: EOF
        self.step: dict[str, Any] = {}
        self.pmi: PmiServer | None = None

    # -- the whole run ---------------------------------------------------------------
    def run(self) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", 0))
        listener.listen(64)
        listener.setblocking(False)
        self.sel.register(listener, selectors.EVENT_READ, "listen")
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self.sel.register(wake_r, selectors.EVENT_READ, "signal")
        self.wake = wake_r
        old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT,)}
        old.update({s: signal.signal(s, lambda *_: None) for s in FORWARDED})
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        if self.opts.mpi in ("pmi1", "pmi2"):
            self.pmi = PmiServer().start()
        try:
            self.step = self.c.create_step(self.job_id, **self._request(listener))
            if self.pmi is not None:
                self.pmi.set_size(int(self.step["ntasks"]))
            with _raw_terminal(self.opts.pty):
                return self._relay(listener)
        except _Stopped as stop:
            self._cancel(stop.signum)
            return 128 + stop.signum
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for s, h in old.items():
                signal.signal(s, h)
            wake_r.close()
            wake_w.close()
            for conn in self.conns.values():
                conn.sock.close()
            listener.close()
            self.sel.close()
            if self.pmi is not None:
                self.pmi.close()

    def _request(self, listener: socket.socket) -> dict[str, Any]:
        o = self.opts
        argv = o.argv if self.pmi is None else task_argv(o.argv, self.pmi.port)
        return {"argv": argv, "name": o.name, "working_dir": o.working_dir,
                "environment": o.environment, "ntasks": o.ntasks, "nodes": o.nodes,
                "cpus_per_task": o.cpus_per_task, "overcommit": o.overcommit,
                "io_port": listener.getsockname()[1], "io_key": self.key,
                "io_node": os.environ.get("CORRAL_NODENAME") or None,
                "stdout": o.stdout, "stderr": o.stderr, "stdin": o.stdin,
                "nodelist": o.nodelist, "distribution": o.distribution,
                **(self._window() if o.pty else {})}

    @staticmethod
    def _window() -> dict[str, Any]:
        """--pty: the task's terminal gets this terminal's size (else 24x80)."""
        for stream in (sys.stdin, sys.stdout):
            try:
                size = os.get_terminal_size(stream.fileno())
            except (OSError, ValueError):
                continue
            return {"pty": True, "pty_rows": size.lines or 24, "pty_cols": size.columns or 80}
        return {"pty": True}

    @property
    def sid(self) -> str:
        return f"{self.job_id}.{self.step.get('step_id', '?')}"

    def _relay(self, listener: socket.socket) -> int:
        ntasks = int(self.step["ntasks"])
        nodes = list(self.step["nodes"])
        if self.stdin_open:
            self._watch_stdin()
        deadline = time.monotonic() + CONNECT_WAIT_S
        while len(self.exits) < ntasks:
            for key, _ in self.sel.select(TICK_S):
                if key.data == "listen":
                    self._accept(listener)
                elif key.data == "stdin":
                    self._read_stdin()
                elif key.data == "signal":
                    self._forward_signals()
                else:
                    self._read(int(key.data))
            hello = {c.node for c in self.conns.values() if c.node}
            if len(hello) < len(nodes) and time.monotonic() > deadline:
                missing = ", ".join(n for n in nodes if n not in hello)
                self._say(f"error: Task launch for StepId={self.sid} failed on node(s) "
                          f"{missing}: no answer in {CONNECT_WAIT_S:.0f} s")
                self._cancel(None)
                return 1
            if hello == set(nodes) and not any(c.node for c in self.conns.values()
                                               if self._alive(c)) \
                    and len(self.exits) < ntasks:
                self._lost(ntasks)  # every node hung up before all exits came
        return self._finish()

    # -- connections -----------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        with contextlib.suppress(BlockingIOError):
            sock, _ = listener.accept()
            sock.setblocking(False)
            self.conns[sock.fileno()] = _Conn(sock)
            self.sel.register(sock, selectors.EVENT_READ, str(sock.fileno()))

    @staticmethod
    def _alive(conn: _Conn) -> bool:
        return conn.sock.fileno() >= 0

    def _read(self, fd: int) -> None:
        conn = self.conns[fd]
        try:
            data = conn.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(conn.sock)
            conn.sock.close()
            return
        conn.buf += data
        while len(conn.buf) >= FRAME_HEADER.size:
            try:
                kind, rank, length = parse_header(bytes(conn.buf[:FRAME_HEADER.size]))
            except ValueError:
                self.sel.unregister(conn.sock)
                conn.sock.close()
                return
            end = FRAME_HEADER.size + length
            if len(conn.buf) < end:
                return
            payload = bytes(conn.buf[FRAME_HEADER.size:end])
            del conn.buf[:end]
            if conn.node is None and kind != FRAME_HELLO:
                self.sel.unregister(conn.sock)
                conn.sock.close()  # not one of ours
                return
            self._frame(conn, kind, rank, payload)

    def _frame(self, conn: _Conn, kind: int, rank: int, payload: bytes) -> None:
        if kind == FRAME_HELLO:
            try:
                hello = json.loads(payload)
            except ValueError:
                hello = {}
            if not isinstance(hello, dict) or hello.get("key") != self.key:
                self.sel.unregister(conn.sock)
                conn.sock.close()
                return
            conn.node = str(hello.get("node"))
            conn.ranks = [int(r) for r in hello.get("ranks", [])]
            for r in conn.ranks:
                self.node_of[r] = conn.node
            self._flush_stdin()
        elif kind in (FRAME_STDOUT, FRAME_STDERR):
            self._output(kind, rank, payload)
        elif kind == FRAME_EXIT:
            self._output(FRAME_STDOUT, rank, b"", flush=True)
            self._output(FRAME_STDERR, rank, b"", flush=True)
            try:
                self.exits[rank] = json.loads(payload)
            except ValueError:
                self.exits[rank] = {"exit_code": 1}

    def _output(self, kind: int, rank: int, data: bytes, flush: bool = False) -> None:
        stream = self.out if kind == FRAME_STDOUT else self.err
        if not self.opts.label:
            if data:
                stream.write(data)
                stream.flush()
            return
        key = (kind, rank)
        text = self.partial.pop(key, b"") + data
        lines = text.split(b"\n")
        tail = lines.pop()
        for line in lines:
            stream.write(f"{rank}: ".encode() + line + b"\n")
        if tail and flush:
            stream.write(f"{rank}: ".encode() + tail + b"\n")
        elif tail:
            self.partial[key] = tail
        stream.flush()

    def _forward_signals(self) -> None:
        try:
            data = self.wake.recv(64)
        except BlockingIOError:
            return
        for signum in data:
            if signum in FORWARDED:
                with contextlib.suppress(Exception):  # the job may be ending already
                    self.c.cancel(self.job_id, signal=signum, target="steps",
                                  step_id=int(self.step["step_id"]))

    # -- stdin -----------------------------------------------------------------------
    def _watch_stdin(self) -> None:
        try:
            fd = sys.stdin.fileno()
        except (ValueError, OSError):
            self.stdin_queue.append(None)
            return
        try:
            self.sel.register(fd, selectors.EVENT_READ, "stdin")
        except (OSError, ValueError):  # a file or /dev/null: cannot be polled, read it
            while data := os.read(fd, 1 << 16):
                self.stdin_queue.append(data)
            self.stdin_queue.append(None)

    def _read_stdin(self) -> None:
        try:
            data = os.read(sys.stdin.fileno(), 1 << 16)
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(sys.stdin.fileno())
            self.stdin_queue.append(None)
        else:
            self.stdin_queue.append(data)
        self._flush_stdin()

    def _stdin_ranks(self) -> list[int]:
        """The tasks that take srun's stdin."""
        if self.opts.stdin == "all":
            return list(range(int(self.step.get("ntasks", 0))))
        return [int(self.opts.stdin)] if self.opts.stdin.isdigit() else []

    def _flush_stdin(self) -> None:
        ranks = self._stdin_ranks()
        if not self.stdin_queue or not all(r in self.node_of for r in ranks):
            return  # not every receiver has called back yet
        for item in self.stdin_queue:
            for r in ranks:
                conn = next((c for c in self.conns.values() if r in c.ranks), None)
                if conn is None or not self._alive(conn):
                    continue
                msg = frame(FRAME_STDIN_EOF, r) if item is None else frame(FRAME_STDIN, r, item)
                with contextlib.suppress(OSError):
                    conn.sock.setblocking(True)
                    conn.sock.sendall(msg)
                    conn.sock.setblocking(False)
        self.stdin_queue.clear()

    # -- the end ---------------------------------------------------------------------
    def _lost(self, ntasks: int) -> None:
        for rank in range(ntasks):
            self.exits.setdefault(rank, {"signal": int(signal.SIGKILL), "lost": 1})

    def _finish(self) -> int:
        worst, sig = 0, None
        oom = any(ex.get("out_of_memory") for ex in self.exits.values())
        for rank in sorted(self.exits):
            ex = self.exits[rank]
            node = self.node_of.get(rank, "?")
            if ex.get("out_of_memory"):
                self._say(f"error: {node}: task {rank}: Out Of Memory")
                sig = int(ex.get("signal") or signal.SIGKILL)
                worst = max(worst, 128 + sig)
            elif ex.get("signal"):
                sig = int(ex["signal"])
                name = signal.Signals(sig).name[3:].title() if sig in signal.valid_signals() \
                    else f"signal {sig}"
                self._say(f"error: {node}: task {rank}: {name.replace('Kill', 'Killed')}")
                worst = max(worst, 128 + sig)
            elif ex.get("exit_code"):
                code = int(ex["exit_code"])
                self._say(f"error: {node}: task {rank}: Exited with exit code {code}")
                worst = max(worst, code)
        with contextlib.suppress(Exception):
            if sig is not None and worst >= 128:
                self.c.end_step(self.job_id, int(self.step["step_id"]), signal=sig,
                                out_of_memory=oom)
            else:
                self.c.end_step(self.job_id, int(self.step["step_id"]), exit_code=worst)
        return worst

    def _cancel(self, signum: int | None) -> None:
        if not self.step:
            return
        if signum is not None:
            self._say(f"error: *** STEP {self.sid} CANCELLED ***")
        with contextlib.suppress(Exception):
            self.c.end_step(self.job_id, int(self.step["step_id"]), cancelled=True)

    def _say(self, text: str) -> None:
        self.err.write(f"{self.prog}: {text}\n".encode())
        self.err.flush()
