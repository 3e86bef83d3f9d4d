"""Response bodies of the REST API (docs/specs/05-rest-api.md): one model per answer.

Every route declares one of these, so that /openapi.json describes every answer.
They describe the JSON exactly as the controller writes it: field for field, in the
same order, nulls included. A field the controller adds before its model does still
reaches the client (extra fields pass through) and a test names it.

Numbers the controller writes as it holds them (an int stays an int, a float a
float) are `Real`, so that a model never turns `5` into `5.0` on the wire.
The listing and one-job routes send the read model's bytes (services/readmodel.py)
and name their model only for the document; nothing re-validates them per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, WithJsonSchema


def _real(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a number, not {type(value).__name__}")
    return value


def _same(value: Any) -> Any:
    return value


Real = Annotated[float, PlainValidator(_real), PlainSerializer(_same, return_type=Any),
                 WithJsonSchema({"type": "number"})]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- jobs -------------------------------------------------------------------------

class JobSpec(_Answer):
    """A job's request as it was submitted (private fields emptied for other users)."""

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
    t_begin: Real | None
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
    licenses: str | None = None
    gpu_type: str | None = None
    jdl: str | None
    credential: bool = False
    cpu_bind: str | None = None  # docs/resources.md
    core_type: str | None = None
    gres_flags: str | None = None
    gres: str | None = None
    input_sandbox: list[str] = []  # docs/job-languages.md
    output_sandbox: list[str] = []


class JobBrief(_Answer):
    """A job as GET /v1/jobs?view=brief lists it: what job tables show (no spec,
    nothing private); `array_pending*`: set on an array's pending rest."""

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
    partition: str
    account: str | None
    nodes: int
    cpus: int
    cpus_per_node: int
    mem_mb_per_node: int | None
    gpus_per_node: int
    time_limit_s: int
    t_submit: Real
    t_start: Real | None
    t_end: Real | None
    node_list: list[str]
    exit_code: int | None
    signal: int | None
    cpu_time_s: Real | None
    max_rss_mb: Real | None
    energy_j: Real | None = None
    restarts: int
    retries: int
    deep_retries: int
    cancelled_by_uid: int | None
    reason: str
    priority: Real
    t_expected_start: Real | None
    array_pending: str | None = None
    array_pending_count: int | None = None
    array_throttle: int | None = None


class Job(JobBrief):
    """A job as GET /v1/jobs/{id} shows it: its brief (above) and the rest.
    `withheld`: the spec fields emptied for a caller who may not read them."""

    gpu_ids: dict[str, list[int]]
    cpu_ids: dict[str, list[int]] = {}  # node -> the CPU ids the scheduler chose there
    priority_factors: dict[str, Real] | None
    live_usage: dict[str, dict[str, Real]] | None
    stdout: str
    stderr: str
    working_dir: str
    spec: JobSpec
    withheld: list[str] | None = None


class JobList(_Answer):
    jobs: list[Job]


class JobListBrief(_Answer):
    jobs: list[JobBrief]


class BatchItem(_Answer):
    """One request of a batch: its new job(s), or why it was refused."""

    index: int
    id: int | None = None
    ids: list[int] | None = None
    error: str | None = None
    message: str | None = None
    replayed: bool | None = None  # an earlier submission's, by its idempotency key


class BatchAnswer(_Answer):
    accepted: int
    refused: int
    results: list[BatchItem]


class Submitted(_Answer):
    id: int  # an array's: its first task's
    ids: list[int]  # every job made, in task order


class Estimate(_Answer):
    id: int  # the id the job would get
    t_expected_start: Real | None
    nodes: list[str]
    partition: str
    cpus: int


class Explanation(_Answer):
    id: int
    display_id: str
    state: str
    reason: str
    priority: Real
    t_expected_start: Real | None
    explanation: list[str]


class Event(_Answer):
    seq: int
    job_id: int | None
    t: Real
    kind: str
    from_state: str | None
    to_state: str | None
    data: dict[str, Any] | None


class EventList(_Answer):
    events: list[Event]


class StateChange(_Answer):
    """What cancel, hold, release and end left the job (or, with `?array=true`, the
    array: then `tasks` says how many of its tasks it changed)."""

    id: int
    state: str
    tasks: int | None = None


class Requeued(_Answer):
    id: int


class ArrayUpdated(_Answer):
    """PATCH with `?array=true` on an array's id: how many of its tasks changed."""

    id: int
    tasks: int


# ---- steps ------------------------------------------------------------------------

class Step(_Answer):
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
    t_start: Real | None
    t_end: Real | None


class StepList(_Answer):
    steps: list[Step]


# ---- cluster ----------------------------------------------------------------------

class NodeTopology(_Answer):
    """The node's CPUs as its agent reads them (docs/resources.md)."""

    sockets: int
    numa_nodes: int
    cores: int
    threads: int
    cpu_list: str
    core_types: dict[str, int]  # cores per type: performance, efficiency
    type_source: str
    gpu_numa: list[int] = []  # each GPU's NUMA domain by index (-1: unknown)


class Node(_Answer):
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
    t_last_seen: Real
    jobs: list[int]
    topology: NodeTopology | None = None  # None: not reported
    gres: dict[str, int] = {}  # generic resources other than GPUs ([[nodes]] gres)
    gres_used: dict[str, int] = {}  # what running jobs hold of them
    site: str = ""  # its site ("": none; docs/pilots.md)
    t_deadline: Real | None = None  # a pilot's end
    batch_job: str = ""  # a pilot's job id in its site's batch system


class NodeList(_Answer):
    nodes: list[Node]


# ---- sites and pilots (docs/pilots.md) ----------------------------------------------
class SiteNode(_Answer):
    name: str
    state: str
    cpus: int
    cpus_used: int
    jobs: list[int]
    pilot: bool
    batch_job: str
    t_deadline: Real | None


class Site(_Answer):
    name: str
    batch: str | None  # slurm | sge (None: a site no pilot factory serves)
    max_pilots: int | None
    pilot_cpus: int | None
    pilot_wall_time_s: int | None
    nodes: list[SiteNode]
    pilots: int  # nodes that are pilots
    cpus: int
    cpus_used: int
    running: int  # jobs running on its nodes
    queued: int  # waiting jobs its nodes or a new pilot of it could run
    queued_cpus: int
    queued_jobs: list[int]  # their ids (at most 1000)
    ended_last_hour: int  # jobs that ended on its nodes
    ended_total: int  # since t_counting_since (the controller's start)
    t_counting_since: Real
    # decayed CPU-seconds used on its nodes per account (else user), since the
    # controller started; with [fairshare.sites.NAME], each one's factor there
    usage_cpu_s: dict[str, Real]
    fairshare: dict[str, Real] | None


class SiteList(_Answer):
    sites: list[Site]


class Deleted(_Answer):
    deleted: str  # the node's or reservation's name


class Reservation(_Answer):
    name: str
    nodes: list[str]
    t_start: Real
    t_end: Real
    users: list[str]
    accounts: list[str]
    maintenance: bool


class ReservationList(_Answer):
    reservations: list[Reservation]


class Partition(_Answer):
    name: str
    default: bool
    nodes: list[str]
    max_time_s: int  # 0: unlimited
    default_time_s: int  # 0: its max_time_s
    max_nodes: int  # 0: unlimited
    cpus: int
    cpus_used: int
    max_cpus_per_node: int  # 0: unlimited
    priority_tier: int
    preempt_mode: str
    default_mem_mb_per_node: int | None
    allow_accounts: list[str]
    allow_groups: list[str]


class PartitionList(_Answer):
    partitions: list[Partition]


class Status(_Answer):
    version: str
    uptime_s: Real
    database: str
    policy: str
    keep_finished_s: int
    weights: dict[str, Real | bool]  # the priority weights (favor_small: a flag)
    kill_grace_s: int
    node_timeout_s: int
    jobs: dict[str, int]  # state -> how many jobs are in it
    nodes: dict[str, str]  # node -> its state
    scheduler_passes: int
    last_pass_s: Real
    # cluster-wide licenses: name -> {"total": N, "used": M} (what running jobs hold)
    licenses: dict[str, dict[str, int]] = {}


# ---- identity -----------------------------------------------------------------------

class Issuer(_Answer):
    issuer: str
    client_id: str | None  # the client `corral login` uses (None: no logins)
    scopes: list[str]
    audience: str
    resource: str | None


class AuthInfo(_Answer):
    """The issuers whose tokens this controller takes."""

    issuers: list[Issuer]


class WhoAmI(_Answer):
    """Who the controller takes the caller for; `issuer` and `subject` with a token."""

    user: str
    uid: int
    gid: int
    role: str
    groups: list[str]
    via: str  # "socket", "token" or "relay"
    issuer: str | None = None
    subject: str | None = None
    relay: str | None = None  # the login host's relay that spoke for the caller


class AuditEntry(_Answer):
    """One state-changing request, accepted or refused (docs/specs/05-rest-api.md §4)."""

    seq: int
    t: Real
    user: str
    uid: int | None
    role: str
    subject: str | None  # a token's; None over the socket
    issuer: str | None
    origin: str  # "unix socket" or the peer's host:port
    action: str
    job_id: int | None
    target: str
    request: dict[str, Any]  # its body without a job's private fields
    status: int  # the HTTP status answered
    result: str  # "ok", or the refusal's message
    request_id: str | None


class AuditList(_Answer):
    entries: list[AuditEntry]


# ---- job credentials (docs/identity.md) -------------------------------------------

class CredentialHandedOver(_Answer):
    id: int
    handle: str  # what the client keeps to get its own access tokens
    access_token: str
    expires_in: Real


class CredentialToken(_Answer):
    access_token: str
    expires_in: Real


class Credential(_Answer):
    id: int
    user: str
    uid: int
    issuer: str
    subject: str
    state: str
    reason: str
    t_created: Real
    t_updated: Real
    t_access_expires: Real


class CredentialList(_Answer):
    credentials: list[Credential]


class CredentialEnded(_Answer):
    id: int
    state: str


# ---- agents (docs/specs/02-agent-protocol.md) ---------------------------------------

class Registered(_Answer):
    heartbeat_s: Real
    lease_s: Real
    agent: dict[str, Any]  # the site's health check, prolog and epilog
    orders: list[dict[str, Any]]
    epoch: int = 0  # the leader's (docs/deployment.md); every order carries it too


class Orders(_Answer):
    orders: list[dict[str, Any]]
    lease_s: Real
    epoch: int = 0  # the leader's (docs/deployment.md); every order carries it too


class NodeDrain(_Answer):
    drain: bool
    drain_reason: str


class Acknowledged(_Answer):
    ok: bool


# ---- controllers that take over (docs/deployment.md) --------------------------------
class ControllerEntry(_Answer):
    id: str
    address: str
    host: str
    pid: int
    role: str  # leader | follower
    heartbeat_s_ago: Real  # by the database's clock
    self: bool  # the controller that answered
    # a follower: the newest event of the log its warm copy applied, and how far
    # behind the log's newest that is (in events; in seconds by the events' times,
    # None when the event it applied is no longer in the log)
    applied_seq: int | None = None
    lag_events: int | None = None
    lag_s: Real | None = None


class LeaderEntry(_Answer):
    id: str | None
    address: str
    host: str
    renewed_s_ago: Real


class Controllers(_Answer):
    epoch: int  # raised at every take-over
    lease_s: Real
    leader: LeaderEntry | None  # None: none leads (the lease lapsed or was given up)
    controllers: list[ControllerEntry]
    alone: bool = False  # SQLite: one controller, no election to speak of
    last_seq: int = 0  # the newest event of the log


class SteppedDown(_Answer):
    epoch: int  # the epoch that ended
    address: str  # of the controller that stepped down
