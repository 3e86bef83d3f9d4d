"""JobSpec (what the user asked for) and Job (the controller's record of it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from corral.model.intent import NO_REASON, StopIntent
from corral.model.shared import shared_environment, shared_text, shared_texts
from corral.model.states import JobState

# Patterns accepted in output paths: %j job id, %x job name, %u user name,
# %N first node name, %A array job id, %a array task id, %% a literal percent.
OUTPUT_PATTERN_KEYS = ("%j", "%x", "%u", "%N", "%A", "%a", "%%")
def fill_pattern(pattern: str, keys: Mapping[str, str]) -> str:
    """Replace each `%k` whose letter is in `keys`; anything else stays as it is."""
    if "%" not in pattern:
        return pattern
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "%" and i + 1 < len(pattern) and pattern[i + 1] in keys:
            out.append(keys[pattern[i + 1]])
            i += 2
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)


# The most automatic requeues (retries) a job or a site may allow.
MAX_RETRIES_LIMIT = 100

# The weighted parts of a job's priority (corral.sched.priority.Factors has these fields).
PRIORITY_FACTORS = ("age", "size", "partition", "nice", "fairshare", "qos", "admin")

# What a scheduling pass writes back to each waiting job: a change to one of these
# drops only the job's small scheduler view (services/readmodel.py), not its main one.
SCHED_FIELDS = frozenset({"reason", "priority", "priority_factors", "t_eligible_est"})
# The renderings kept on a job (never stored, never compared): any other change drops them.
_VIEW_SLOTS = frozenset({"views", "view_sched"})
# The fields of a job's stored row that may change after submit. An assignment to one
# of them (but reason and priority, which every event carries) on a TrackedJob is
# noted in UNRECORDED until the controller's next event for the job takes it
# (services/state.py).
STORED_FIELDS = ("state", "reason", "intent", "partition", "time_limit_s",
                 "mem_mb_per_node", "t_start", "t_end", "nodes", "exit_code", "signal",
                 "cpu_time_s", "max_rss_mb", "energy_j", "restarts", "retries", "deep_retries",
                 "priority",
                 "array_job_id", "array_task_id", "gpu_ids", "cpu_ids", "cancelled_by_uid", "spec")
_NOTED = frozenset(STORED_FIELDS) - SCHED_FIELDS


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A validated request. Exactly one of `script` and `argv` is set."""

    name: str
    working_dir: str
    script: str | None = None
    argv: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    stdout: str = "corral-%j.out"
    stderr: str | None = None  # None: joined with stdout
    partition: str | None = None  # None: the default partition
    account: str | None = None
    nodes: int = 1
    cpus_per_node: int = 1
    mem_mb_per_node: int | None = None  # None: the partition default
    gpus_per_node: int = 0
    time_limit_s: int | None = None  # None: the partition default; 0 (UNLIMITED_S): none
    nice: int = 0
    priority: int | None = None  # an administrator's fixed priority
    hold: bool = False
    t_begin: float | None = None  # epoch seconds; not before this
    requeue: bool = True  # may be requeued after a node failure
    max_retries: int | None = None  # automatic requeues allowed; None: the site's default
    features: tuple[str, ...] = ()  # constraint terms, all must hold (model/features.py)
    nodelist: tuple[str, ...] = ()  # nodes the allocation must include (-w)
    exclude: tuple[str, ...] = ()  # nodes it may not use (-x)
    exclusive: bool = False  # whole nodes
    array: str | None = None  # e.g. "0-9%2" (model/arrays.py)
    dependency: str | None = None  # e.g. "afterok:12" (model/deps.py)
    kill_on_invalid_dep: bool = True  # fail a job whose dependency can never be met
    signal: str | None = None  # "[B:]SIG@seconds" before the time limit
    qos: str | None = None  # a configured quality of service
    reservation: str | None = None  # run inside this advance reservation
    interactive: bool = False  # an allocation held for a client (salloc), which ends it
    # warned before it is killed (cancel, time limit): SIGUSR2 rather than SIGTERM,
    # SIGKILL after the grace time, as Grid Engine's -notify
    notify: bool = False
    # matchmaking (docs/job-languages.md): ClassAd expressions over a node's ad (TARGET,
    # `other.` in JDL) with the job's ad as MY; None: any node / no preference
    requirements: str | None = None
    rank: str | None = None  # nodes with a higher value first
    # retries after the job's own failure (non-zero exit, signal), as JDL's RetryCount;
    # None or 0: none. Capped by the site's controller.max_retries.
    retry_count: int | None = None
    # cluster-wide licenses, normalized `name:count,...` (model/licenses.py)
    licenses: str | None = None
    # the GPUs' model (`--gres=gpu:a100:2`): only nodes whose gpu_type it is
    gpu_type: str | None = None
    jdl: str | None = None  # the gLite JDL (a ClassAd) the job was made from, if any
    # the owner's access token in a file inside the job, renewed for its whole life
    # (services/credentials.py)
    credential: bool = False
    # which CPUs of its nodes it is bound to (model/cpubind.py, docs/resources.md):
    # cores | threads | none | map_cpu:IDS, None: cores; core_type None: any
    cpu_bind: str | None = None
    core_type: str | None = None
    # enforce-binding: only CPUs near its GPUs; disable-binding: any (None: near first)
    gres_flags: str | None = None
    # generic resources other than GPUs per node, normalized `name[:type]:count,...`
    # (model/gres.py)
    gres: str | None = None
    # sandboxes (docs/job-languages.md): input files `SHA256:MODE:NAME` staged into the
    # working directory; output files (names inside it) collected at the end
    input_sandbox: tuple[str, ...] = ()
    output_sandbox: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        # (not dataclasses.asdict, whose deep copy is most of a submit's rendering)
        d = {name: getattr(self, name) for name in _SPEC_FIELD_NAMES}
        d["environment"] = dict(self.environment)
        d["argv"] = list(self.argv)
        d["features"] = list(self.features)
        d["nodelist"] = list(self.nodelist)
        d["exclude"] = list(self.exclude)
        d["input_sandbox"] = list(self.input_sandbox)
        d["output_sandbox"] = list(self.output_sandbox)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSpec:
        known = _SPEC_FIELD_SET
        kw = {k: v for k, v in d.items() if k in known}
        # what jobs hold alike is kept once (model/shared.py)
        kw["argv"] = shared_texts(kw.get("argv") or ())
        kw["features"] = shared_texts(kw.get("features") or ())
        kw["nodelist"] = shared_texts(kw.get("nodelist") or ())
        kw["exclude"] = shared_texts(kw.get("exclude") or ())
        kw["input_sandbox"] = tuple(kw.get("input_sandbox") or ())
        kw["output_sandbox"] = tuple(kw.get("output_sandbox") or ())
        kw["environment"] = shared_environment(kw.get("environment") or {})
        for name in _SHARED_TEXT_FIELDS:
            if kw.get(name) is not None:
                kw[name] = shared_text(kw[name])
        return cls(**kw)


_SPEC_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(JobSpec))
_SPEC_FIELD_SET = frozenset(_SPEC_FIELD_NAMES)

# the JobSpec strings that jobs often hold alike
_SHARED_TEXT_FIELDS = ("name", "working_dir", "script", "stdout", "stderr", "partition",
                       "licenses", "gpu_type", "gres",
                       "account", "array", "dependency", "qos", "reservation", "signal",
                       "requirements", "rank")


NO_GPU_IDS: Mapping[str, tuple[int, ...]] = MappingProxyType({})


@dataclass(slots=True)
class Job:
    """The controller's record of a job. Mutated only by the single writer."""

    id: int
    spec: JobSpec
    user: str
    uid: int
    gid: int
    state: JobState
    t_submit: float
    partition: str
    time_limit_s: int  # resolved: 0 means unlimited
    mem_mb_per_node: int | None  # resolved
    reason: str = NO_REASON  # shown to users; decisions read `intent`
    intent: StopIntent | None = None  # why its run is being stopped, or who holds it
    t_start: float | None = None
    t_end: float | None = None
    nodes: tuple[str, ...] = ()
    exit_code: int | None = None
    signal: int | None = None
    cpu_time_s: float | None = None
    max_rss_mb: float | None = None
    energy_j: float | None = None  # its nodes' energy counters over the run; None: unknown
    restarts: int = 0  # every requeue (the job's run number)
    retries: int = 0  # the automatic ones (node failure, failing prolog)
    deep_retries: int = 0  # after failures of its own (spec.retry_count)
    priority: float = 0.0
    t_eligible_est: float | None = None
    array_job_id: int | None = None  # the id of the array's first task
    array_task_id: int | None = None
    t_signalled: float | None = None  # when the --signal warning was sent (not stored)
    # pending: the last pass's priority factor by factor, in PRIORITY_FACTORS order
    # (kept as the scheduler's tuple, named only when shown); not stored
    priority_factors: tuple[float, ...] | None = None
    # running: node -> its agent's last sample (rss_mb, max_rss_mb, cpu_time_s, t); not stored
    live_usage: dict[str, dict[str, float]] | None = None
    # running (and kept after the end): node -> the GPU device indices it holds there;
    # replaced, never changed in place (a job without GPUs shares NO_GPU_IDS)
    gpu_ids: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: NO_GPU_IDS)
    # running (and kept after the end): node -> the CPU ids the scheduler chose for it
    # there (a node absent: none chosen, its agent chose); replaced like gpu_ids
    cpu_ids: Mapping[str, tuple[int, ...]] = field(default_factory=lambda: NO_GPU_IDS)
    cancelled_by_uid: int | None = None  # who cancelled it (its owner or another)
    # Renderings built once per change and shared by every reader (services/readmodel.py,
    # services/scheduling.py). Kept only on a TrackedJob, which drops them when any
    # other field is assigned; a dict changed in place must be followed by touch().
    views: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    view_sched: Any = field(default=None, init=False, repr=False, compare=False)

    def touch(self) -> None:
        """Drop every rendering of the job (after changing one of its dicts in place)."""
        CHANGES[0] += 1
        if not DIRTY:
            dirtied()
        DIRTY.add(self.id)
        object.__setattr__(self, "views", None)
        object.__setattr__(self, "view_sched", None)

    @property
    def display_id(self) -> str:
        if self.array_job_id is not None:
            return f"{self.array_job_id}_{self.array_task_id}"
        return str(self.id)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def cpus(self) -> int:
        return self.spec.cpus_per_node * self.spec.nodes

    def expand_path(self, pattern: str) -> str:
        """Fill %j %x %u %N %% in an output path (relative paths: the working dir)."""
        path = fill_pattern(pattern, {
            "A": str(self.array_job_id if self.array_job_id is not None else self.id),
            "a": str(self.array_task_id if self.array_task_id is not None else 0),
            "j": str(self.id),
            "x": self.spec.name,
            "u": self.user,
            "N": self.nodes[0] if self.nodes else "",
            "%": "%",
        })
        if not path.startswith("/"):
            path = self.spec.working_dir.rstrip("/") + "/" + path
        return path

    @property
    def stdout_path(self) -> str:
        return self.expand_path(self.spec.stdout)

    @property
    def stderr_path(self) -> str:
        return self.expand_path(self.spec.stderr) if self.spec.stderr else self.stdout_path

    def sched_dict(self) -> dict[str, Any]:
        """The part of to_dict() that a scheduling pass changes (SCHED_FIELDS)."""
        return {
            "reason": self.reason,
            "priority": self.priority,
            "priority_factors": (dict(zip(PRIORITY_FACTORS, self.priority_factors, strict=True))
                                 if self.priority_factors and self.state.is_waiting else None),
            "t_expected_start": self.t_eligible_est,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "display_id": self.display_id,
            "array_job_id": self.array_job_id,
            "array_task_id": self.array_task_id,
            "array_spec": self.spec.array,
            "dependency": self.spec.dependency,
            "qos": self.spec.qos,
            "reservation": self.spec.reservation,
            "name": self.spec.name,
            "user": self.user,
            "uid": self.uid,
            "gid": self.gid,
            "state": str(self.state),
            "reason": self.reason,
            "partition": self.partition,
            "account": self.spec.account,
            "nodes": self.spec.nodes,
            "cpus": self.cpus,
            "cpus_per_node": self.spec.cpus_per_node,
            "mem_mb_per_node": self.mem_mb_per_node,
            "gpus_per_node": self.spec.gpus_per_node,
            "time_limit_s": self.time_limit_s,
            "t_submit": self.t_submit,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "node_list": list(self.nodes),
            "gpu_ids": {node: list(ids) for node, ids in self.gpu_ids.items()},
            "cpu_ids": {node: list(ids) for node, ids in self.cpu_ids.items()},
            "exit_code": self.exit_code,
            "signal": self.signal,
            "cpu_time_s": self.cpu_time_s,
            "max_rss_mb": self.max_rss_mb,
            "energy_j": self.energy_j,
            "restarts": self.restarts,
            "retries": self.retries,
            "deep_retries": self.deep_retries,
            "cancelled_by_uid": self.cancelled_by_uid,
            "priority": self.priority,
            "priority_factors": (dict(zip(PRIORITY_FACTORS, self.priority_factors, strict=True))
                                 if self.priority_factors and self.state.is_waiting else None),
            "t_expected_start": self.t_eligible_est,
            "live_usage": self.live_usage if self.state.is_active else None,
            "stdout": self.stdout_path,
            "stderr": self.stderr_path,
            "working_dir": self.spec.working_dir,
            "spec": self.spec.to_dict(),
        }


# How many changes TrackedJobs have seen in this process: a reader that kept something
# built from them (a whole listing) may keep using it while this count stays the same.
CHANGES = [0]
# The ids of the TrackedJobs changed (or touched) since the controller last published
# its read model (services/snapshot.py), which empties it.
DIRTY: set[int] = set()
# Called, on the thread that made the change, when DIRTY stops being empty: the
# publisher waits for this rather than waking on a timer (services/snapshot.py).
ON_DIRTY: list[Callable[[], None]] = []
# job id -> the stored fields assigned since its last event (services/state.py takes them)
UNRECORDED: dict[int, set[str]] = {}


def dirtied() -> None:
    """DIRTY is about to hold a first job: tell whoever waits (ON_DIRTY)."""
    for wake in ON_DIRTY:
        wake()


class TrackedJob(Job):
    """A job held in the controller's queue: assigning a field drops the renderings
    that depend on it, so a reader never sees a stale one. (A plain Job, as loaded
    or copied, pays nothing for this: the controller retypes the jobs it holds.)"""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in SCHED_FIELDS:
            CHANGES[0] += 1
            if not DIRTY:
                dirtied()
            DIRTY.add(self.id)
            object.__setattr__(self, "view_sched", None)
        elif name not in _VIEW_SLOTS:
            CHANGES[0] += 1
            if not DIRTY:
                dirtied()
            DIRTY.add(self.id)
            object.__setattr__(self, "views", None)
            if name in _NOTED:
                noted = UNRECORDED.get(self.id)
                if noted is None:
                    UNRECORDED[self.id] = {name}
                else:
                    noted.add(name)
                if name == "state":
                    object.__setattr__(self, "view_sched", None)


def track(job: Job) -> TrackedJob:
    """Retype a job in place as a TrackedJob (renderings dropped)."""
    if type(job) is not TrackedJob:
        job.__class__ = TrackedJob
    job.touch()
    return job  # type: ignore[return-value]
