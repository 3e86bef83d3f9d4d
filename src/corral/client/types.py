"""The SDK's answers, typed: `client.job(7).state` is a `str` to an editor and to mypy.

Each answer is still the JSON object the controller sent, as a dict: `job["state"]`,
`job.get("reason")`, `dict(job)`, `json.dumps(job)` and comparing with a dict work as
they always did. Its fields are also attributes, typed as below (a field the answer
lacks, as `withheld` of a job its owner reads, is an AttributeError, and `.get()`
gives None). Each class has exactly the fields of its model in the controller's
OpenAPI document (corral.api.responses), which a test checks.

No pydantic here: the drop-in commands import the SDK on every call, and reading an
answer costs one dict copy, nothing more.
"""

from typing import Any, ClassVar


class Record(dict[str, Any]):
    """A JSON object of the API whose fields are also read as attributes."""

    __slots__ = ()
    # field -> the Record type its object (or list of objects) is read as
    _nested: ClassVar[dict[str, type["Record"]]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        nested = dict(cls._nested)
        for name, kind in vars(cls).get("__annotations__", {}).items():
            inner = getattr(kind, "__args__", (kind,))[0]  # list[Step] -> Step
            if isinstance(inner, type) and issubclass(inner, Record):
                nested[name] = inner
        cls._nested = nested

    def __getattr__(self, name: str) -> Any:
        try:
            value = self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None
        kind = self._nested.get(name)
        if kind is not None:
            if isinstance(value, dict):
                return kind(value)
            if isinstance(value, list):
                return [kind(v) for v in value]
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__}.{name}: an answer's fields are set as "
                             f"items ([{name!r}] = ...)")

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The fields of this answer, in the controller's order."""
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            names.extend(vars(klass).get("__annotations__", {}))
        return tuple(n for n in names if not n.startswith("_"))


# ---- jobs -------------------------------------------------------------------------

class JobSpec(Record):
    """A job's request as submitted (private fields emptied for other users)."""

    __slots__ = ()

    name: str
    working_dir: str
    script: str | None
    argv: list[str]
    environment: dict[str, str]
    stdout: str
    stderr: str | None
    partition: str | None
    account: str | None
    nodes: int
    cpus_per_node: int
    mem_mb_per_node: int | None
    gpus_per_node: int
    time_limit_s: int | None
    nice: int
    priority: int | None
    hold: bool
    t_begin: float | None
    requeue: bool
    max_retries: int | None
    features: list[str]
    nodelist: list[str]
    exclude: list[str]
    exclusive: bool
    array: str | None
    dependency: str | None
    kill_on_invalid_dep: bool
    signal: str | None
    qos: str | None
    reservation: str | None
    interactive: bool
    notify: bool
    requirements: str | None
    rank: str | None
    retry_count: int | None
    licenses: str | None
    gpu_type: str | None
    jdl: str | None
    credential: bool
    cpu_bind: str | None
    core_type: str | None
    gres_flags: str | None
    gres: str | None
    input_sandbox: list[str]
    output_sandbox: list[str]


class Job(Record):
    """A job (GET /v1/jobs/{id}). Absent unless they apply: `withheld` (the spec
    fields emptied for a caller who may not read them) and `array_pending`,
    `array_pending_count`, `array_throttle` (an array's pending rest)."""

    __slots__ = ()

    id: int
    display_id: str
    array_job_id: int | None
    array_task_id: int | None
    array_spec: str | None
    dependency: str | None
    qos: str | None
    reservation: str | None
    name: str
    user: str
    uid: int
    gid: int
    state: str
    reason: str
    partition: str
    account: str | None
    nodes: int
    cpus: int
    cpus_per_node: int
    mem_mb_per_node: int | None
    gpus_per_node: int
    time_limit_s: int
    t_submit: float
    t_start: float | None
    t_end: float | None
    node_list: list[str]
    gpu_ids: dict[str, list[int]]
    cpu_ids: dict[str, list[int]]
    exit_code: int | None
    signal: int | None
    cpu_time_s: float | None
    max_rss_mb: float | None
    energy_j: float | None
    restarts: int
    retries: int
    deep_retries: int
    cancelled_by_uid: int | None
    priority: float
    priority_factors: dict[str, float] | None
    t_expected_start: float | None
    live_usage: dict[str, dict[str, float]] | None
    stdout: str
    stderr: str
    working_dir: str
    spec: JobSpec
    withheld: list[str] | None
    array_pending: str | None
    array_pending_count: int | None
    array_throttle: int | None


class Estimate(Record):
    __slots__ = ()

    id: int
    t_expected_start: float | None
    nodes: list[str]
    partition: str
    cpus: int


class Explanation(Record):
    __slots__ = ()

    id: int
    display_id: str
    state: str
    reason: str
    priority: float
    t_expected_start: float | None
    explanation: list[str]


class Event(Record):
    __slots__ = ()

    seq: int
    job_id: int | None
    t: float
    kind: str
    from_state: str | None
    to_state: str | None
    data: dict[str, Any] | None


class StateChange(Record):
    """What cancel, hold, release or end left the job in; `tasks` (an array acted on
    whole) how many of its tasks changed."""

    __slots__ = ()

    id: int
    state: str
    tasks: int | None


class ArrayUpdated(Record):
    __slots__ = ()

    id: int
    tasks: int


# ---- steps ------------------------------------------------------------------------

class Step(Record):
    __slots__ = ()

    job_id: int
    step_id: int
    name: str
    argv: list[str]
    nodes: list[str]
    tasks_per_node: list[int]
    distribution: str
    ntasks: int
    cpus_per_task: int
    state: str
    exit_code: int | None
    signal: int | None
    t_start: float | None
    t_end: float | None


# ---- cluster ----------------------------------------------------------------------

class NodeTopology(Record):
    __slots__ = ()

    sockets: int
    numa_nodes: int
    cores: int
    threads: int
    cpu_list: str
    core_types: dict[str, int]
    type_source: str
    gpu_numa: list[int]


class Node(Record):
    __slots__ = ()

    name: str
    state: str
    cpus: int
    cpus_used: int
    mem_mb: int
    mem_mb_used: int
    gpus: int
    gpus_used: int
    features: list[str]
    drain_reason: str
    drain_by: str
    t_last_seen: float
    jobs: list[int]
    topology: NodeTopology | None
    gres: dict[str, int]
    gres_used: dict[str, int]
    site: str  # "": none (docs/pilots.md)
    t_deadline: float | None  # a pilot's end
    batch_job: str  # a pilot's job id in its site's batch system


class Reservation(Record):
    __slots__ = ()

    name: str
    nodes: list[str]
    t_start: float
    t_end: float
    users: list[str]
    accounts: list[str]
    maintenance: bool


class Partition(Record):
    __slots__ = ()

    name: str
    default: bool
    nodes: list[str]
    max_time_s: int
    default_time_s: int
    max_nodes: int
    cpus: int
    cpus_used: int
    max_cpus_per_node: int
    priority_tier: int
    preempt_mode: str
    default_mem_mb_per_node: int | None
    allow_accounts: list[str]
    allow_groups: list[str]


class Status(Record):
    __slots__ = ()

    version: str
    uptime_s: float
    database: str
    policy: str
    keep_finished_s: int
    weights: dict[str, float | bool]
    kill_grace_s: int
    node_timeout_s: int
    jobs: dict[str, int]
    nodes: dict[str, str]
    scheduler_passes: int
    last_pass_s: float
    licenses: dict[str, dict[str, int]]  # name -> {"total": N, "used": M}


# ---- identity -----------------------------------------------------------------------

class WhoAmI(Record):
    """Who the controller takes this client for; `issuer` and `subject` (absent over
    the Unix socket) name the token's, `relay` the login host's relay that spoke for
    it."""

    __slots__ = ()

    user: str
    uid: int
    gid: int
    role: str
    groups: list[str]
    via: str
    issuer: str | None
    subject: str | None
    relay: str | None


class AuditEntry(Record):
    """One state-changing request as the audit trail keeps it (GET /v1/audit)."""

    __slots__ = ()

    seq: int
    t: float
    user: str
    uid: int | None
    role: str
    subject: str | None
    issuer: str | None
    origin: str
    action: str
    job_id: int | None
    target: str
    request: dict[str, Any]
    status: int
    result: str
    request_id: str | None


# ---- associations (docs/accounting.md) -----------------------------------------------

class Account(Record):
    """An account of the tree; a limit None is inherited (unlimited at the root)."""

    __slots__ = ()

    name: str
    parent: str | None
    shares: int
    description: str
    organization: str
    max_jobs: int | None
    max_cpus: int | None
    max_gpus: int | None
    max_wall_s: int | None
    qos: list[str]
    default_qos: str | None
    depth: int


class User(Record):
    __slots__ = ()

    name: str
    default_account: str


class Association(Record):
    """A user's association with an account: shares, limits, QOS."""

    __slots__ = ()

    user: str
    account: str
    shares: int
    max_jobs: int | None
    max_cpus: int | None
    max_gpus: int | None
    max_wall_s: int | None
    qos: list[str]
    default_qos: str | None


class Qos(Record):
    __slots__ = ()

    name: str
    description: str
    priority: float
    max_wall_s: int | None
    max_jobs_per_user: int | None
    max_cpus_per_user: int | None


class Associations(Record):
    """The cluster's accounts, users, associations and QOS (GET /v1/accounts)."""

    __slots__ = ()

    cluster: str
    enforced: bool
    accounts: list[Account]
    users: list[User]
    associations: list[Association]
    qos: list[Qos]


class Share(Record):
    """One row of the fair-share tree (an account's own row has user "")."""

    __slots__ = ()

    account: str
    user: str
    depth: int
    raw_shares: float
    norm_shares: float
    raw_usage: float
    effective_usage: float
    fairshare: float
