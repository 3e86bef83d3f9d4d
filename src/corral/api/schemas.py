"""Request bodies of the REST API (docs/specs/05-rest-api.md). Unknown fields are errors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from corral.model.job import MAX_RETRIES_LIMIT, JobSpec
from corral.services.steps import StepRequest as ServiceStepRequest


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubmitRequest(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    working_dir: Annotated[str, Field(min_length=1)]
    script: str | None = None
    argv: list[str] = []
    environment: dict[str, str] = {}
    stdout: Annotated[str, Field(min_length=1)] = "corral-%j.out"
    stderr: str | None = None
    partition: str | None = None
    account: str | None = None
    nodes: Annotated[int, Field(ge=1, le=100_000)] = 1
    cpus_per_node: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    mem_mb_per_node: Annotated[int, Field(ge=1)] | None = None
    gpus_per_node: Annotated[int, Field(ge=0, le=1024)] = 0
    # None: the partition's default; 0: unlimited (refused where the partition has a maximum)
    time_limit_s: Annotated[int, Field(ge=0)] | None = None
    nice: Annotated[int, Field(ge=-10000, le=10000)] = 0
    priority: Annotated[int, Field(ge=0)] | None = None
    hold: bool = False
    t_begin: float | None = None
    requeue: bool = True
    max_retries: Annotated[int, Field(ge=0, le=MAX_RETRIES_LIMIT)] | None = None
    features: list[str] = []
    nodelist: Annotated[list[str], Field(max_length=100_000)] = []  # must be in the allocation
    exclude: Annotated[list[str], Field(max_length=100_000)] = []  # may not be
    exclusive: bool = False
    array: Annotated[str, Field(min_length=1, max_length=10_000)] | None = None
    dependency: Annotated[str, Field(min_length=1, max_length=10_000)] | None = None
    kill_on_invalid_dep: bool = True
    signal: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    qos: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    reservation: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    interactive: bool = False  # an allocation (salloc): ended by its client
    notify: bool = False  # SIGUSR2 (not SIGTERM) before SIGKILL when killed
    user: str | None = None  # an administrator submitting for another user
    idempotency_key: str | None = None  # or the Idempotency-Key header

    def to_spec(self) -> JobSpec:
        d: dict[str, Any] = self.model_dump(exclude={"user", "idempotency_key"})
        return JobSpec.from_dict(d)


class CancelRequest(_Body):
    signal: Annotated[int, Field(ge=1, le=64)] | None = None
    target: Literal["all", "batch", "steps"] = "all"  # with a signal: who receives it
    step_id: Annotated[StrictInt, Field(ge=0)] | None = None  # with target "steps": just this one


class EndRequest(_Body):
    exit_code: Annotated[int, Field(ge=0, le=255)] = 0


class StepRequest(_Body):
    argv: Annotated[list[str], Field(min_length=1)]
    name: Annotated[str, Field(max_length=200)] = ""
    working_dir: Annotated[str, Field(min_length=1)]
    environment: dict[str, str] = {}
    ntasks: Annotated[int, Field(ge=1, le=100_000)] | None = None
    nodes: Annotated[int, Field(ge=1, le=100_000)] | None = None
    cpus_per_task: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    overcommit: bool = False
    io_port: Annotated[int, Field(ge=1, le=65535)]
    io_key: Annotated[str, Field(min_length=8, max_length=200)]
    io_node: str | None = None
    stdout: Annotated[str, Field(min_length=1)] | None = None
    stderr: Annotated[str, Field(min_length=1)] | None = None
    stdin: str = "0"
    nodelist: Annotated[list[str], Field(min_length=1)] | None = None
    distribution: str = "block"
    pty: bool = False
    pty_rows: Annotated[int, Field(ge=1, le=10_000)] = 24
    pty_cols: Annotated[int, Field(ge=1, le=10_000)] = 80

    def to_request(self) -> ServiceStepRequest:
        d = self.model_dump()
        d["argv"] = tuple(d["argv"])
        d["nodelist"] = tuple(d["nodelist"]) if d["nodelist"] else None
        return ServiceStepRequest(**d)


class StepEndRequest(_Body):
    exit_code: Annotated[int, Field(ge=0, le=255)] | None = None
    signal: Annotated[int, Field(ge=1, le=64)] | None = None
    cancelled: bool = False
    out_of_memory: bool = False  # a task was killed for the job's memory limit


class RequeueRequest(_Body):
    hold: bool = False


class UpdateRequest(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    time_limit_s: Annotated[int, Field(ge=0)] | None = None  # 0: unlimited
    nice: Annotated[int, Field(ge=-10000, le=10000)] | None = None
    priority: Annotated[int, Field(ge=0)] | None = None
    partition: str | None = None
    t_begin: float | None = None
    cpus_per_node: Annotated[int, Field(ge=1)] | None = None
    mem_mb_per_node: Annotated[int, Field(ge=1)] | None = None
    account: str | None = None


class ReservationRequest(_Body):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")]
    nodes: Annotated[list[str], Field(min_length=1)]
    t_start: float
    t_end: float
    users: list[str] = []
    accounts: list[str] = []
    maintenance: bool = False  # nobody runs on these nodes in the window


class DrainRequest(_Body):
    reason: Annotated[str, Field(min_length=1, max_length=1000)]


class AgentRunning(BaseModel):
    job_id: int
    pid: int | None = None
    rss_mb: float = 0.0
    max_rss_mb: float = 0.0
    cpu_time_s: float = 0.0


class AgentVerdict(BaseModel):
    ok: bool
    message: Annotated[str, Field(max_length=1000)] = ""


class AgentRegister(BaseModel):
    node: Annotated[str, Field(min_length=1, max_length=255)]
    cpus: Annotated[int, Field(ge=1)]
    mem_mb: Annotated[int, Field(ge=1)]
    gpus: Annotated[int, Field(ge=0)] = 0
    features: list[str] = []
    agent_version: str = ""
    boot_id: str = ""
    address: str | None = None  # where this node's clients listen (step I/O)
    running: list[AgentRunning] = []
    finished: list[dict[str, Any]] = []
    health: AgentVerdict | None = None  # the health check's latest verdict, if any


class AgentPoll(BaseModel):
    node: str
    boot_id: str = ""
    running: list[AgentRunning] = []
    steps_usage: list[AgentRunning] = []  # jobs whose steps, not batch script, run here
    unacknowledged: list[int] | None = None  # jobs whose reports the agent still holds
    wait_s: Annotated[float, Field(ge=0, le=60)] = 20.0


class AgentHealth(BaseModel):
    node: str
    boot_id: str = ""
    ok: bool
    message: Annotated[str, Field(max_length=1000)] = ""  # the first line of its output


class AgentCheck(BaseModel):
    node: str
    boot_id: str = ""
    kind: Literal["prolog", "epilog"]
    job_id: Annotated[int, Field(ge=1)]
    run: Annotated[int, Field(ge=0)] = 0
    message: Annotated[str, Field(max_length=1000)] = ""


class AgentReport(BaseModel):
    node: str
    reports: list[dict[str, Any]]
