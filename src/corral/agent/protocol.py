"""The shapes of the agent protocol (docs/specs/02-agent-protocol.md §3).

Parsing is strict about types and lenient about extra keys, so a newer controller
can add fields without breaking an older agent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

JOB_END_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY")


class ProtocolError(ValueError):
    """A message from the controller does not have the documented shape."""


def _texts(d: dict[str, Any], key: str) -> tuple[str, ...]:
    items = _get(d, key, list, [])
    if not all(isinstance(x, str) for x in items):
        raise ProtocolError(f"field {key!r}: every item must be a string")
    return tuple(items)


def _get(d: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in d or d[key] is None:
        if default is ...:
            raise ProtocolError(f"missing field {key!r}")
        return default
    value = d[key]
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ProtocolError(f"field {key!r}: expected a number, got {value!r}")
    if not isinstance(value, kind):
        raise ProtocolError(f"field {key!r}: unexpected value {value!r}")
    return value


def _indices(d: dict[str, Any]) -> tuple[int, ...]:
    ids = _get(d, "gpu_ids", list, [])
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
        raise ProtocolError("field 'gpu_ids': a list of device indices")
    return tuple(ids)


def _cpu_ids(d: dict[str, Any]) -> tuple[int, ...] | None:
    ids = _get(d, "cpu_ids", list, None)
    if ids is None:
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
        raise ProtocolError("field 'cpu_ids': a list of CPU ids")
    return tuple(ids)


def _domains(d: dict[str, Any]) -> tuple[int, ...]:
    ids = _get(d, "gpu_domains", list, [])
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
        raise ProtocolError("field 'gpu_domains': a list of NUMA domain numbers")
    return tuple(ids)


@dataclass(frozen=True, slots=True)
class Launch:
    job_id: int
    name: str
    user: str
    uid: int
    gid: int
    script: str | None
    argv: tuple[str, ...]
    working_dir: str
    environment: dict[str, str]
    stdout: str
    stderr: str
    time_limit_s: float  # 0: unlimited
    mem_mb: int | None
    cpus: int
    gpus: int
    node_list: tuple[str, ...]
    kill_grace_s: float
    run: int = 0  # which run of the job (its restart count): reports carry it back
    # how long the job waits for its working and output directories to appear (a tool
    # may create them right after submitting) before it fails; 0: not at all
    output_wait_s: float = 0.0
    gpu_ids: tuple[int, ...] = ()  # the GPU device indices the job holds on this node
    term_signal: int = 15  # sent at the time limit, SIGKILL kill_grace_s later
    cpu_bind: str = ""  # cores | threads | none | map_cpu:IDS ("": cores; agent/binding)
    core_type: str = ""  # performance | efficiency ("": any)
    # enforce-binding | disable-binding ("": CPUs near its GPUs first); gpu_domains:
    # the NUMA domains of its GPUs on this node
    gres_flags: str = ""
    gpu_domains: tuple[int, ...] = ()
    # the CPUs the scheduler chose for it here (None: the order names none, the agent
    # chooses; an empty tuple: not bound)
    cpu_ids: tuple[int, ...] | None = None
    # sandbox files (agent/sandbox.py): inputs `SHA256:MODE:NAME` fetched from the
    # controller into working_dir before the start; outputs sent back after the end
    input_sandbox: tuple[str, ...] = ()
    output_sandbox: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Launch:
        if not isinstance(d, dict):
            raise ProtocolError("launch: expected an object")
        script = _get(d, "script", str, None)
        argv = _get(d, "argv", list, [])
        if not all(isinstance(a, str) for a in argv):
            raise ProtocolError("field 'argv': every item must be a string")
        if script is None and not argv:
            raise ProtocolError("launch: needs a 'script' or an 'argv'")
        env = _get(d, "environment", dict, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ProtocolError("field 'environment': keys and values must be strings")
        nodes = _get(d, "node_list", list, [])
        stdout = _get(d, "stdout", str, "/dev/null")
        mem_mb = _get(d, "mem_mb", int, None)
        return cls(
            job_id=_get(d, "job_id", int),
            name=_get(d, "name", str, ""),
            user=_get(d, "user", str, ""),
            uid=_get(d, "uid", int),
            gid=_get(d, "gid", int),
            script=script,
            argv=tuple(argv),
            working_dir=_get(d, "working_dir", str),
            environment=dict(env),
            stdout=stdout,
            stderr=_get(d, "stderr", str, stdout),
            time_limit_s=float(_get(d, "time_limit_s", (int, float), 0)),
            mem_mb=mem_mb if mem_mb and mem_mb > 0 else None,
            cpus=_get(d, "cpus", int, 1),
            gpus=_get(d, "gpus", int, 0),
            node_list=tuple(str(n) for n in nodes),
            kill_grace_s=float(_get(d, "kill_grace_s", (int, float), 5)),
            run=_get(d, "run", int, 0),
            output_wait_s=max(0.0, float(_get(d, "output_wait_s", (int, float), 0))),
            gpu_ids=_indices(d),
            term_signal=_get(d, "term_signal", int, 15),
            cpu_bind=_get(d, "cpu_bind", str, ""),
            core_type=_get(d, "core_type", str, ""),
            gres_flags=_get(d, "gres_flags", str, ""),
            gpu_domains=_domains(d),
            cpu_ids=_cpu_ids(d),
            input_sandbox=_texts(d, "input_sandbox"),
            output_sandbox=_texts(d, "output_sandbox"),
        )


@dataclass(frozen=True, slots=True)
class JobFacts:
    """What a prolog or epilog sees of its job (§6): a launch's facts, or those of a
    `prolog`/`epilog` order for a node of the job other than its batch node."""

    job_id: int
    name: str
    user: str
    uid: int
    gid: int
    working_dir: str
    node_list: tuple[str, ...]
    run: int = 0
    environment: dict[str, str] = field(default_factory=dict)  # partition, account, array

    @classmethod
    def of_launch(cls, launch: Launch) -> JobFacts:
        return cls(launch.job_id, launch.name, launch.user, launch.uid, launch.gid,
                   launch.working_dir, launch.node_list, launch.run, launch.environment)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobFacts:
        if not isinstance(d, dict):
            raise ProtocolError("job: expected an object")
        env = _get(d, "environment", dict, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ProtocolError("field 'environment': keys and values must be strings")
        return cls(job_id=_get(d, "job_id", int), name=_get(d, "name", str, ""),
                   user=_get(d, "user", str, ""), uid=_get(d, "uid", int),
                   gid=_get(d, "gid", int), working_dir=_get(d, "working_dir", str, "/"),
                   node_list=tuple(str(n) for n in _get(d, "node_list", list, [])),
                   run=_get(d, "run", int, 0), environment=dict(env))


SIGNAL_TARGETS = ("all", "batch", "main", "steps")


@dataclass(frozen=True, slots=True)
class StepLaunch:
    """This node's share of a job step (docs/specs/02-agent-protocol.md §5)."""

    job_id: int
    step_id: int
    name: str
    user: str
    uid: int
    gid: int
    argv: tuple[str, ...]
    working_dir: str
    environment: dict[str, str]
    ranks: tuple[int, ...]  # the global ranks this node runs
    node_index: int
    step_nodes: tuple[str, ...]
    tasks_per_node: str  # Slurm's compressed form, e.g. "2(x2),1"
    ntasks: int
    cpus_per_task: int
    io_host: str | None  # None: the controller's host
    io_port: int
    io_key: str
    stdout: str | None  # a per-task file pattern; None: streamed to the client
    stderr: str | None
    stdin: str  # "0" (a rank), "all" or "none"
    array_job_id: int | None = None  # for %A %a in output patterns
    array_task_id: int | None = None
    mem_mb: int | None = None  # the job's memory per node (None: not enforced)
    gpu_ids: tuple[int, ...] = ()  # the job's GPU device indices on this node
    pty: bool = False  # task 0 runs in a pseudo terminal (srun --pty)
    pty_rows: int = 24  # its window size
    pty_cols: int = 80

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepLaunch:
        if not isinstance(d, dict):
            raise ProtocolError("step: expected an object")
        argv = _get(d, "argv", list)
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ProtocolError("field 'argv': a non-empty list of strings")
        env = _get(d, "environment", dict, {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ProtocolError("field 'environment': keys and values must be strings")
        ranks = _get(d, "ranks", list)
        if not all(isinstance(r, int) and not isinstance(r, bool) for r in ranks):
            raise ProtocolError("field 'ranks': a list of integers")
        return cls(
            job_id=_get(d, "job_id", int), step_id=_get(d, "step_id", int),
            name=_get(d, "name", str, ""), user=_get(d, "user", str, ""),
            uid=_get(d, "uid", int), gid=_get(d, "gid", int), argv=tuple(argv),
            working_dir=_get(d, "working_dir", str), environment=dict(env),
            ranks=tuple(ranks), node_index=_get(d, "node_index", int),
            step_nodes=tuple(str(n) for n in _get(d, "step_nodes", list)),
            tasks_per_node=_get(d, "tasks_per_node", str, ""),
            ntasks=_get(d, "ntasks", int), cpus_per_task=_get(d, "cpus_per_task", int, 1),
            io_host=_get(d, "io_host", str, None), io_port=_get(d, "io_port", int),
            io_key=_get(d, "io_key", str), stdout=_get(d, "stdout", str, None),
            stderr=_get(d, "stderr", str, None), stdin=_get(d, "stdin", str, "0"),
            array_job_id=_get(d, "array_job_id", int, None),
            array_task_id=_get(d, "array_task_id", int, None),
            mem_mb=_get(d, "mem_mb", int, None),
            gpu_ids=_indices(d), pty=_get(d, "pty", bool, False),
            pty_rows=_get(d, "pty_rows", int, 24), pty_cols=_get(d, "pty_cols", int, 80),
        )


@dataclass(frozen=True, slots=True)
class Order:
    # launch | cancel | signal | step | step_cancel | end | prolog | epilog | credential
    kind: str
    job_id: int
    launch: Launch | None = None
    signal: int = 15
    grace_s: float = 5.0
    target: str = "all"  # signal: all | batch (its process group) | main | steps
    step: StepLaunch | None = None
    step_id: int | None = None
    job: JobFacts | None = None  # prolog | epilog (on a node other than the batch node)
    run: int | None = None  # cancel: only this run of the job (None: whichever runs)
    # launch of a --credential job, credential: the job's access token (agent/credentials)
    credential: bool = False
    token: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Order:
        if not isinstance(d, dict):
            raise ProtocolError("order: expected an object")
        kind = _get(d, "kind", str)
        job_id = _get(d, "job_id", int)
        if kind == "launch":
            launch = _get(d, "launch", dict)
            cred = _get(launch, "credential", dict, None)
            return cls(kind, job_id, launch=Launch.from_dict(launch),
                       credential=cred is not None,
                       token=_get(cred, "token", str, None) if cred is not None else None)
        if kind == "credential":
            return cls(kind, job_id, credential=True, token=_get(d, "token", str),
                       run=_get(d, "run", int, None))
        if kind == "cancel":
            return cls(kind, job_id, signal=_get(d, "signal", int, 15),
                       grace_s=float(_get(d, "grace_s", (int, float), 5.0)),
                       run=_get(d, "run", int, None))
        if kind == "signal":
            target = _get(d, "target", str, "all")
            if _get(d, "main_only", bool, False):  # the form of earlier controllers
                target = "main"
            if target not in SIGNAL_TARGETS:
                raise ProtocolError(f"field 'target': unknown target {target!r}")
            return cls(kind, job_id, signal=_get(d, "signal", int), target=target,
                       step_id=_get(d, "step_id", int, None))
        if kind == "step":
            return cls(kind, job_id, step=StepLaunch.from_dict(_get(d, "step", dict)))
        if kind == "step_cancel":
            return cls(kind, job_id, step_id=_get(d, "step_id", int))
        if kind == "end":
            return cls(kind, job_id)
        if kind in ("prolog", "epilog"):
            return cls(kind, job_id, job=JobFacts.from_dict(_get(d, "job", dict)))
        raise ProtocolError(f"unknown order kind {kind!r}")


@dataclass(slots=True)
class JobReport:
    job_id: int
    state: str
    exit_code: int | None = None
    signal: int | None = None
    t_start: float = 0.0
    t_end: float = 0.0
    cpu_time_s: float = 0.0
    max_rss_mb: float = 0.0
    energy_j: float | None = None  # the node's energy counters over the run (None: none)
    message: str = ""
    cancelled: bool = False  # ended by a cancel order (state is then CANCELLED)
    run: int = 0  # the launch's run: the controller ignores reports of an earlier run
    prolog_failed: bool = False  # the job did not start: its prolog failed here (§6)
    prolog_message: str = ""
    epilog_failed: bool = False  # the job ended; its epilog failed here afterwards
    epilog_message: str = ""
    lost: bool = False  # killed because the node's lease lapsed: the controller ends
    # the job as it ends the jobs of a lost node (NODE_FAIL, or requeued)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobReport:
        """A report the agent wrote down itself (report.json)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunningJob:
    job_id: int
    pid: int
    rss_mb: float = 0.0  # the job's processes here, at the last sample
    max_rss_mb: float = 0.0
    cpu_time_s: float = 0.0  # so far
    run: int = 0  # which run of the job this is

    def to_dict(self) -> dict[str, float]:
        return {"job_id": self.job_id, "pid": self.pid, "run": self.run, **self.usage()}

    def usage(self) -> dict[str, float]:
        return {"rss_mb": round(self.rss_mb, 1),
                "max_rss_mb": round(self.max_rss_mb, 1),
                "cpu_time_s": round(self.cpu_time_s, 3)}
