"""A PMI-1 server for one step: how MPI programs started by srun find each other.

MPI libraries built with the process management interface's simple wire protocol
(MPICH's and its derivatives' own PMI client) connect to PMI_PORT (host:port),
introduce themselves with PMI_ID, and exchange their business cards through a
key-value space, synchronised by barriers. srun serves it (`--mpi=pmi2`, the
default, or `pmi1`: the PMI-1 wire protocol for both, which MPICH's default client
speaks; the PMI-2 wire protocol is not served) on a port of its own, which the
step's tasks reach at the address the agents connect back to
(SLURM_LAUNCH_NODE_IPADDR).

The protocol: lines of `key=value` words, `cmd=` first. init / initack, get_maxes,
get_appnum, get_my_kvsname, get_universe_size, put, get, barrier_in, finalize,
abort. A missing key is `rc=-1`; MPICH then works out which ranks share a node from
the host names its ranks publish.
"""

from __future__ import annotations

import contextlib
import socket
import threading

KVSNAME = "kvs_corral_0"
MAX_LINE = 1 << 20  # a business card is a few hundred bytes
MAX_KEYS = 1_000_000
SIZE_WAIT_S = 60.0  # how long a rank may wait for the step's size to be known
MPI_TYPES = ("none", "pmi1", "pmi2")  # what srun --mpi= takes (pmi2: the default)


class PmiServer:
    """Serves `size` ranks on a TCP port (0.0.0.0), one thread per connection."""

    def __init__(self, size: int = 0) -> None:
        self.size = size  # 0 until the step says (set_size): ranks wait for it
        self.kvs: dict[str, str] = {}
        self.cond = threading.Condition()
        self.arrived = 0
        self.generation = 0
        self.aborted: str | None = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(1024)
        self.port: int = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._closed = False

    def set_size(self, size: int) -> None:
        with self.cond:
            self.size = size
            self.cond.notify_all()

    def _known_size(self) -> int:
        with self.cond:
            self.cond.wait_for(lambda: self.size > 0 or self._closed, timeout=SIZE_WAIT_S)
            return self.size

    def start(self) -> PmiServer:
        threading.Thread(target=self._accept, name="pmi-accept", daemon=True).start()
        return self

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self.sock.close()
        for c in list(self.conns):
            with contextlib.suppress(OSError):
                c.close()
        with self.cond:
            self.cond.notify_all()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), name="pmi-conn",
                             daemon=True).start()

    def _barrier(self) -> bool:
        self._known_size()
        with self.cond:
            gen = self.generation
            self.arrived += 1
            if self.arrived >= self.size:
                self.arrived = 0
                self.generation += 1
                self.cond.notify_all()
                return True
            while self.generation == gen and not self._closed:
                self.cond.wait(1.0)
            return not self._closed

    def answer(self, words: dict[str, str]) -> list[str] | None:
        """The lines that answer one request (None: close the connection)."""
        cmd = words.get("cmd", "")
        if cmd == "initack":
            rank = words.get("pmiid", "0")
            return ["cmd=initack", f"cmd=set size={self._known_size()}",
                    f"cmd=set rank={rank}", "cmd=set debug=0"]
        if cmd == "init":
            return ["cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0"]
        if cmd == "get_maxes":
            return ["cmd=maxes kvsname_max=256 keylen_max=256 vallen_max=1024 rc=0"]
        if cmd == "get_appnum":
            return ["cmd=appnum appnum=0 rc=0"]
        if cmd == "get_my_kvsname":
            return [f"cmd=my_kvsname kvsname={KVSNAME} rc=0"]
        if cmd == "get_universe_size":
            return [f"cmd=universe_size size={self._known_size()} rc=0"]
        if cmd == "put":
            with self.cond:
                if len(self.kvs) >= MAX_KEYS:
                    return ["cmd=put_result rc=-1 msg=too_many_keys"]
                self.kvs[words.get("key", "")] = words.get("value", "")
            return ["cmd=put_result rc=0"]
        if cmd == "get":
            with self.cond:
                value = self.kvs.get(words.get("key", ""))
            if value is None:
                return ["cmd=get_result rc=-1 msg=key_not_found"]
            return [f"cmd=get_result rc=0 value={value}"]
        if cmd == "barrier_in":
            return ["cmd=barrier_out rc=0"] if self._barrier() else None
        if cmd == "finalize":
            return ["cmd=finalize_ack rc=0"]
        if cmd == "abort":
            self.aborted = words.get("msg", "aborted")
            return None
        return [f"cmd={cmd or 'unknown'} rc=-1 msg=unknown_command"]

    def _serve(self, conn: socket.socket) -> None:
        f = conn.makefile("rwb")
        try:
            while not self._closed:
                line = f.readline(MAX_LINE)
                if not line:
                    return
                words = dict(w.split("=", 1) for w in line.decode(errors="replace").split()
                             if "=" in w)
                lines = self.answer(words)
                if lines is None:
                    return
                f.write(("\n".join(lines) + "\n").encode())
                f.flush()
                if words.get("cmd") == "finalize":
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                f.close()
                conn.close()


def task_argv(argv: list[str], port: int) -> list[str]:
    """The task's command with PMI_PORT and PMI_ID set from its own rank."""
    script = (f'export PMI_PORT="${{SLURM_LAUNCH_NODE_IPADDR:-127.0.0.1}}:{port}" '
              'PMI_ID="$SLURM_PROCID" PMI_RANK="$SLURM_PROCID" PMI_SIZE="$SLURM_NTASKS"; '
              'exec "$@"')
    return ["/bin/sh", "-c", script, "srun-pmi", *argv]
