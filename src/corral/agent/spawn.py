"""Starting one run of a job: user, environment, run directory, script, supervisor.

The agent starts a supervisor (corral.agent.supervise) per run, forked by the
node's shepherd (corral.agent.supervisors), which forks the job's main process and
outlives the agent. The main process is a tiny `/bin/sh`
wrapper, already running as the job's user, that changes to the working directory,
opens stdout/stderr itself (append) and then `exec`s the job. So the agent, even
as root, never opens a path on a user's behalf. Until the wrapper has opened the
output files its stderr is a pipe to the agent: whatever arrives there is the
reason the job could not start.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pwd
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from corral.agent import runs
from corral.agent.binding import binding_environment
from corral.agent.protocol import Launch
from corral.agent.supervisors import Shepherd, Unsettled, start_supervisor

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
WRAPPER_NAME = "corral-job"
MAX_START_ERROR_BYTES = 4096
_SHELL_PREFIX = re.compile(rf"^(?:{WRAPPER_NAME}|/bin/sh|sh):\s*(?:line\s*)?\d*:?\s*")

# $1 working dir, $2 stdout, $3 stderr, then the command.
_WRAPPER_SEPARATE = 'cd -- "$1" || exit 1; exec >>"$2" 2>>"$3" </dev/null || exit 1'
_WRAPPER_JOINED = 'cd -- "$1" || exit 1; exec >>"$2" 2>&1 </dev/null || exit 1'
_WRAPPER_TAIL = '; shift 3; exec "$@"'
WAIT_STEP_S = 0.2  # how often a job waiting for its directories looks again


def _wait_for_dirs(launch: Launch) -> str:
    """Shell that waits (as the job's user) up to output_wait_s for the working
    directory and the output files' directories to exist; then the wrapper goes on
    and fails, if one is still missing, with the shell's own message."""
    if launch.output_wait_s <= 0:
        return ""
    dirs = dict.fromkeys([launch.working_dir, *(os.path.dirname(p) for p in
                                                (launch.stdout, launch.stderr)
                                                if p.startswith("/"))])
    test = " || ".join(f"[ ! -d {shlex.quote(d or '/')} ]" for d in dirs)
    rounds = math.ceil(launch.output_wait_s / WAIT_STEP_S)
    return (f"n=0; while [ $n -lt {rounds} ] && {{ {test}; }}; do n=$((n+1)); "
            f"sleep {WAIT_STEP_S}; done; ")


class StartError(Exception):
    """The job could not be started; the message says why (one line)."""


@dataclass(slots=True)
class Spawned:
    pid: int  # the run's supervisor
    start: int  # its start time (0: it has ended already)
    popen: subprocess.Popen[bytes] | None  # the supervisor, when the agent's child
    error_fd: int  # read end of the wrapper's early stderr (non-blocking)
    started_fd: int  # the supervisor's stdout: "PID START\n" once the job is forked
    run_dir: Path
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class RunAs:
    uid: int
    gid: int
    groups: tuple[int, ...]
    name: str
    home: str
    switch: bool  # True when the agent is root and must change identity


def resolve_user(launch: Launch) -> RunAs:
    """The identity the job runs as: the launch's uid/gid as root, else the agent's."""
    return resolve_user_of(launch.uid, launch.gid, launch.user)


def resolve_user_of(uid: int, gid: int, user: str) -> RunAs:
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwuid(uid)
        except KeyError:
            raise StartError(f"unknown user: uid {uid} ({user or '?'}) "
                             "does not exist on this node") from None
        try:
            groups = tuple(g for g in os.getgrouplist(pw.pw_name, gid))
        except OSError:
            groups = (gid,)
        return RunAs(uid, gid, groups, pw.pw_name, pw.pw_dir, switch=True)
    own = os.getuid()
    try:
        pw = pwd.getpwuid(own)
        name, home = pw.pw_name, pw.pw_dir
    except KeyError:
        name, home = user or str(own), os.environ.get("HOME", "/")
    return RunAs(own, os.getgid(), (), name, home, switch=False)


def job_environment(launch: Launch, run_as: RunAs, agent_id: str) -> dict[str, str]:
    env = dict(launch.environment)
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(HOME=run_as.home, USER=run_as.name, LOGNAME=run_as.name)
    nodes = ",".join(launch.node_list)
    values = {
        "JOB_ID": str(launch.job_id),
        "JOB_NAME": launch.name,
        "CPUS_ON_NODE": str(launch.cpus),
        "SUBMIT_DIR": launch.working_dir,
    }
    for key, value in values.items():
        env[f"CORRAL_{key}"] = value
        env[f"SLURM_{key}"] = value
    env["CORRAL_NODELIST"] = nodes
    env["SLURM_JOB_NODELIST"] = nodes
    # Slurm's older names, still exported by it and read by site scripts and MPI wrappers
    env["SLURM_JOBID"] = env["SLURM_JOB_ID"]
    env["SLURM_NODELIST"] = nodes
    env["CORRAL_JOB_USER"] = launch.user or run_as.name
    env.setdefault("SLURM_NTASKS", "1")  # a Slurm front end may have set it
    env["CORRAL_AGENT_ID"] = agent_id  # marks the job's processes (see proctree)
    env.update(gpu_environment(launch.gpu_ids))
    return env


GPU_VARIABLES = ("CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL", "ROCR_VISIBLE_DEVICES",
                 "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CORRAL_JOB_GPUS")


def gpu_environment(gpu_ids: tuple[int, ...]) -> dict[str, str]:
    """The variables naming a job's GPU devices here (none: nothing is set)."""
    if not gpu_ids:
        return {}
    text = ",".join(str(i) for i in gpu_ids)
    # CUDA numbers devices in PCI bus order, as nvidia-smi and the agent do
    return {**dict.fromkeys(GPU_VARIABLES, text), "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def _prepare_run(launch: Launch, run_as: RunAs, path: Path) -> list[str]:
    """Create the run's directory (the agent's; traversable by the job's user) and
    the job script in it (the user's); the command to execute."""
    path.parent.mkdir(mode=0o711, exist_ok=True)
    path.mkdir(mode=0o711 if run_as.switch else 0o700)  # exists: not this run's to touch
    if launch.script is None:
        return list(launch.argv)
    script = path / "script"
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
    try:
        os.write(fd, launch.script.encode())
        if run_as.switch:
            os.fchown(fd, run_as.uid, run_as.gid)
    finally:
        os.close(fd)
    if launch.script.startswith("#!"):
        return [str(script), *launch.argv]
    return ["/bin/sh", str(script), *launch.argv]


def spawn(launch: Launch, spool: Path, agent_id: str, *, t_start: float,
          gate_fd: int | None = None, lease_file: Path | None = None,
          cgroup: Path | None = None, cpus: tuple[int, ...] = (),
          bound: tuple[int, ...] | None = None,
          shepherd: Shepherd | None = None) -> Spawned:
    """Record the run and start its supervisor (corral.agent.supervise), which starts
    the job's main process in a new session; or raise StartError.

    With `gate_fd` (a pipe's read end) the wrapper first waits for EOF on it, so the
    agent can place the process (in its cgroup) before the job runs. `cpus`: the
    job's CPUs (its environment names them); `bound`: those of them the kernel binds
    it to (None: all).
    """
    run_as = resolve_user(launch)
    path = runs.run_dir(spool, launch.job_id, launch.run)
    try:
        command = _prepare_run(launch, run_as, path)
    except OSError as exc:
        raise StartError(f"cannot write the job script in {path}: {exc.strerror}") from None
    joined = launch.stdout == launch.stderr
    body = (_WRAPPER_JOINED if joined else _WRAPPER_SEPARATE) + _WRAPPER_TAIL
    prelude = ("read -r _ || :; " if gate_fd is not None else "") + _wait_for_dirs(launch)
    wrapper = ["/bin/sh", "-c", prelude + body, WRAPPER_NAME,
               launch.working_dir, launch.stdout, launch.stderr, *command]
    env = job_environment(launch, run_as, agent_id)
    env.update(binding_environment(cpus))
    record = {
        "launch": dataclasses.asdict(launch), "agent_id": agent_id, "t_start": t_start,
        "cgroup": str(cgroup) if cgroup else None, "cpus": list(cpus),
        "spawn": {"argv": wrapper, "env": env,
                  "cpus": list(cpus if bound is None else bound),
                  "switch": run_as.switch, "uid": run_as.uid, "gid": run_as.gid,
                  "groups": list(run_as.groups), "job_id": launch.job_id,
                  "agent_id": agent_id, "kill_grace_s": launch.kill_grace_s,
                  "term_signal": launch.term_signal,
                  "lease_file": str(lease_file) if lease_file else None,
                  "cgroup": str(cgroup) if cgroup else None}}
    try:
        runs.write_json(path / "launch.json", record)
    except OSError as exc:
        runs.remove(path)
        raise StartError(f"cannot record the run in {path}: {exc.strerror}") from None
    err_r, err_w = os.pipe()
    started_r, started_w = os.pipe()
    os.set_blocking(err_r, False)
    os.set_blocking(started_r, False)
    try:
        started = start_supervisor(shepherd, path, gate_fd, started_w, err_w,
                                   {"PATH": DEFAULT_PATH})
    except (OSError, ValueError, Unsettled) as exc:
        os.close(err_r)
        os.close(started_r)
        runs.remove(path)
        raise StartError(f"cannot start the job: {exc}") from None
    finally:
        os.close(err_w)
        os.close(started_w)
    start = 0 if started.popen is not None else runs.start_time(started.pid) or 0
    return Spawned(started.pid, start, started.popen, err_r, started_r, path,
                   run_as.uid, run_as.gid)


def read_error_output(fd: int) -> tuple[bytes, bool]:
    """What is available on the wrapper's early stderr, and whether it is at EOF."""
    chunks: list[bytes] = []
    try:
        while True:
            data = os.read(fd, MAX_START_ERROR_BYTES)
            if not data:
                return b"".join(chunks), True
            chunks.append(data)
    except BlockingIOError:
        return b"".join(chunks), False
    except OSError:
        return b"".join(chunks), True


def format_start_error(data: bytes) -> str:
    """The wrapper's complaint as one line, without the shell's `sh: 1:` prefix."""
    text = data[:MAX_START_ERROR_BYTES].decode(errors="replace").strip()
    lines = (_SHELL_PREFIX.sub("", line.strip()) for line in text.splitlines())
    return " / ".join(line for line in lines if line)
