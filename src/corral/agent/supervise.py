"""The supervisor of one run of a job: the job's parent, which outlives the agent.

    python -I -S supervise.py RUN_DIR

(as a rule forked instead by the node's shepherd, corral.agent.shepherd, whose
child calls `main`). It reads the `spawn` part of RUN_DIR/launch.json (written by
the agent), claims the run (RUN_DIR/supervisor: one supervisor a run), forks the
job's main process in a session of its own as the job's user, records both pids
with their start times in RUN_DIR/procs.json, tells the agent the job's pid on
stdout ("PID START\\n") and waits for the job. Meanwhile it checks the node's lease
(a file the agent rewrites whenever the controller answers it) every
LEASE_CHECK_S; once the lease has lapsed it ends the job: its first signal
(SIGTERM, or the launch's `term_signal`), SIGKILL after `kill_grace_s`. When the
job's main process has ended it kills what is left of the
job (its session, its process group, the processes carrying its markers, its
cgroup), writes RUN_DIR/status.json (wait status, CPU time, end time, whether the
lease lapsed) and exits. So a job's exit status survives the agent, and a job
whose node lost the controller dies by itself (docs/specs/02-agent-protocol.md §4).

Only the standard library, and nothing of corral: without a shepherd this starts
once per job, and a shepherd carries into every supervisor it forks what it
imported. For the same reason it imports no module written in Python that it can do without:
`json` (which pulls in `re`, `enum`, `functools`, …) and `signal` (`enum`) would
cost more CPU than the interpreter's own start; their C halves (`_json`,
`_signal`) do the same work here.
"""

from __future__ import annotations

import os
import select
import sys
import time

TYPE_CHECKING = False  # no `typing` import: this starts once per job
if TYPE_CHECKING:
    import signal
    from typing import Any
else:
    import _signal as signal  # `signal` without its enums: the same calls on ints

LEASE_CHECK_S = 0.5
LEFTOVER_POLL_S = 0.1
CHILD_DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE,
                         signal.SIGXFSZ)
KILL_DEADLINE_FILE = "kill_deadline"  # CLOCK_BOOTTIME seconds, written by the agent
CLAIM_FILE = "supervisor"  # created once: the process that supervises the run


def claim(run_dir: str, owner: str) -> bool:
    """Make `owner` the run's one supervisor (False: another process is or was; the
    agent claims a run itself to make sure none will be). The file appears with its
    content (a link of a written file), so a reader never sees it empty."""
    path = os.path.join(run_dir, CLAIM_FILE)
    tmp = f"{path}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, f"{owner}\n".encode())
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _quietly(os.unlink, tmp)
    return True


def claimed_by(run_dir: str) -> str | None:
    """Who claimed the run (a supervisor's pid, or "agent"), None: nobody yet."""
    try:
        with open(os.path.join(run_dir, CLAIM_FILE)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def read_proc(pid: int, name: str) -> bytes:
    """/proc/<pid>/<name> (os.open and os.read: half the CPU of open() and a
    buffered file, which counts when every process of the node is read)."""
    fd = os.open(f"/proc/{pid}/{name}", os.O_RDONLY)
    try:
        chunks = [os.read(fd, 4096)]
        while name != "stat" and chunks[-1]:  # a stat line is read whole at once
            chunks.append(os.read(fd, 65536))
    finally:
        os.close(fd)
    return b"".join(chunks)


def stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state first), None if gone."""
    try:
        data = read_proc(pid, "stat")
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].decode().split()


def start_time(pid: int) -> int:
    fields = stat_fields(pid)
    return int(fields[19]) if fields else 0


def _quietly(fn: Any, *args: Any) -> None:
    """fn(*args), an OSError ignored (contextlib costs an import per job)."""
    try:
        fn(*args)
    except OSError:
        return


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


class _Scanning:
    """What the C JSON scanner reads from its context (as json.JSONDecoder has it)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    array_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"),
                      "NaN": float("nan")}.__getitem__
    memo: dict[str, str] = {}


def _unencodable(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def loads(text: str) -> Any:
    """json.loads(text), without importing json."""
    try:
        import _json
        scan = _json.make_scanner(_Scanning())  # type: ignore[arg-type]
    except (ImportError, AttributeError, TypeError):  # another interpreter: the slow way
        import json
        return json.loads(text)
    start = len(text) - len(text.lstrip())
    try:
        obj, end = scan(text, start)
    except StopIteration as exc:
        raise ValueError(f"not JSON at character {exc.value}") from None
    if text[end:].strip():
        raise ValueError(f"extra data at character {end}")
    return obj


def dumps(data: object) -> str:
    """json.dumps(data), without importing json."""
    try:
        import _json
        encode = _json.make_encoder(None, _unencodable, _json.encode_basestring_ascii,
                                    None, ": ", ", ", False, False, True)
    except (ImportError, AttributeError, TypeError):
        import json
        return json.dumps(data)
    return "".join(encode(data, 0))


def write_json(path: str, data: dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, dumps(data).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Supervisor:
    def __init__(self, run_dir: str, spec: dict[str, Any]) -> None:
        self.run_dir = run_dir
        self.spec = spec
        self.pid = 0
        self.job_start = 0  # the main process's start time (clock ticks after boot)
        self.lease_file: str | None = spec.get("lease_file")
        self.grace_s = float(spec.get("kill_grace_s", 5))
        self.term_signal = int(spec.get("term_signal", signal.SIGTERM))
        self.markers = (f"\0CORRAL_JOB_ID={spec['job_id']}\0".encode(),
                        f"\0CORRAL_AGENT_ID={spec['agent_id']}\0".encode())

    # -- start -------------------------------------------------------------------------
    def start(self) -> None:
        devnull = os.open(os.devnull, os.O_RDWR)
        # The supervisor ignores these; blocked across the fork, one sent to the new
        # process before it resets them stays pending (Linux never drops a blocked
        # signal) and acts once the job's defaults are back.
        signal.pthread_sigmask(signal.SIG_BLOCK, CHILD_DEFAULT_SIGNALS)
        pid = os.fork()
        if pid == 0:
            self._child(devnull)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, CHILD_DEFAULT_SIGNALS)
        self.pid = pid
        self.job_start = start_time(pid)
        try:
            write_json(os.path.join(self.run_dir, "procs.json"), {
                "supervisor_pid": os.getpid(), "supervisor_start": start_time(os.getpid()),
                "job_pid": pid, "job_start": self.job_start})
        except OSError as exc:  # a run nobody could follow after the agent: not started
            _quietly(os.write, 2, f"cannot record the job's process: {exc}\n".encode())
            os.kill(pid, signal.SIGKILL)
        # the agent may be gone: the record suffices
        _quietly(os.write, 1, f"{pid} {start_time(pid)}\n".encode())
        for fd in (0, 1, 2):  # the agent sees EOF on the pipes it reads
            os.dup2(devnull, fd)
        os.close(devnull)

    def _child(self, devnull: int) -> None:
        spec = self.spec
        try:
            os.setsid()
            os.dup2(devnull, 1)
            for sig in CHILD_DEFAULT_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, CHILD_DEFAULT_SIGNALS)
            cpus = spec.get("cpus")
            if cpus:  # bound to its CPUs before it runs (agent/binding)
                os.sched_setaffinity(0, [int(c) for c in cpus])
            if spec.get("switch"):
                os.setgroups(list(spec.get("groups", ())))
                os.setgid(int(spec["gid"]))
                os.setuid(int(spec["uid"]))
            argv = [str(a) for a in spec["argv"]]
            os.execve(argv[0], argv, {str(k): str(v) for k, v in spec["env"].items()})
        except BaseException as exc:  # the child must never return
            with_reason = f"cannot start the job: {exc}\n".encode()
            try:
                os.write(2, with_reason)
            finally:
                os._exit(127)

    # -- waiting -----------------------------------------------------------------------
    def lease_lapsed(self) -> bool:
        if self.lease_file is None:
            return False
        try:
            with open(self.lease_file) as f:
                until = float(f.read().strip() or "0")
        except (OSError, ValueError):
            return True  # no lease: the agent never held one
        return boottime() > until

    def wait(self) -> tuple[int, float, bool]:
        """(wait status, CPU seconds, lease lapsed) once the main process has ended."""
        pidfd: int | None = None
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            pidfd = None
        lapsed_at: float | None = None
        while True:
            if pidfd is not None:
                select.select([pidfd], [], [], LEASE_CHECK_S)
            else:
                time.sleep(min(0.1, LEASE_CHECK_S))
            pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                return status, rusage.ru_utime + rusage.ru_stime, lapsed_at is not None
            now = time.monotonic()
            if lapsed_at is None and self.lease_lapsed():
                lapsed_at = now
                self.kill(self.term_signal)
                self.kill(signal.SIGCONT)
            elif lapsed_at is not None and now - lapsed_at >= self.grace_s:
                self.kill(signal.SIGKILL)

    # -- killing -----------------------------------------------------------------------
    def kill_deadline(self) -> float | None:
        """When a kill in progress ends its grace period (None: no kill in progress)."""
        try:
            with open(os.path.join(self.run_dir, KILL_DEADLINE_FILE)) as f:
                return float(f.read().strip())
        except (OSError, ValueError):
            return None

    def members(self) -> list[int]:
        return self._members()

    def _members(self) -> list[int]:
        """The job's processes: its session and group, and those with its markers."""
        out = []
        uid = int(self.spec["uid"]) if self.spec.get("switch") else os.getuid()
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) in (os.getpid(), self.pid):
                continue
            pid = int(name)
            fields = stat_fields(pid)
            if fields is None or fields[0] == "Z":
                continue
            if self.pid in (int(fields[2]), int(fields[3])):
                out.append(pid)
                continue
            if int(fields[19]) < self.job_start:
                continue  # older than the job: none of its processes (their markers)
            try:
                if os.stat(f"/proc/{pid}").st_uid != uid:
                    continue
                env = b"\0" + read_proc(pid, "environ")
            except OSError:
                continue
            if all(m in env for m in self.markers):
                out.append(pid)
        return out

    def kill(self, sig: int, *, main: bool = True) -> None:
        """Signal the job's processes (`main`: its main process too, not yet reaped)."""
        cgroup = self.spec.get("cgroup")
        if cgroup and sig == signal.SIGKILL:
            _quietly(_write, os.path.join(cgroup, "cgroup.kill"), "1\n")
        for pid in ([self.pid] if main else []) + self._members():
            _quietly(os.kill, pid, sig)


def main(argv: list[str]) -> int:
    run_dir = argv[1]
    try:
        with open(os.path.join(run_dir, "launch.json")) as f:
            spec = loads(f.read())["spawn"]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        os.write(2, f"cannot read the job's launch record: {exc}\n".encode())
        return 2
    try:
        if not claim(run_dir, str(os.getpid())):
            os.write(2, b"the run has another supervisor\n")
            return 3
    except OSError as exc:
        os.write(2, f"cannot claim the run: {exc}\n".encode())
        return 2
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only SIGKILL ends the supervisor
    os.chdir("/")
    sup = Supervisor(run_dir, spec)
    sup.start()
    status, cpu_s, lapsed = sup.wait()
    t_end = time.time()
    # what the job left behind: at once, unless the job is being killed with a grace
    # period (the agent wrote its end): then its other processes (steps) keep the rest
    # of it, as they would had the main process not ended first
    deadline = sup.kill_deadline()
    while deadline is not None and boottime() < deadline and sup.members():
        time.sleep(LEFTOVER_POLL_S)
    sup.kill(signal.SIGKILL, main=False)
    write_json(os.path.join(run_dir, "status.json"), {
        "status": status, "cpu_s": round(cpu_s, 6), "t_end": t_end, "lease_lapsed": lapsed})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
