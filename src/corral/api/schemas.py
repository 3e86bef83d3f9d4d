"""Request bodies of the REST API (docs/specs/05-rest-api.md). Unknown fields are errors.
(The agents' bodies are the agent protocol's messages: corral.model.agent_messages.)

Every number has its range and every name its shape from corral.model.bounds (spec
05 §6); floats are finite. A value outside is a 400 naming the field and the limit.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from corral.model import bounds as b
from corral.model.cpubind import check_core_type, check_cpu_bind, check_gres_flags
from corral.model.fields import Epoch, Features, Ident, NodeName, Text
from corral.model.fields import checked as _checked
from corral.model.fields import ints as _ints
from corral.model.job import MAX_RETRIES_LIMIT, JobSpec
from corral.services.steps import StepRequest as ServiceStepRequest

Path_ = Annotated[str, Field(min_length=1, max_length=b.MAX_PATH_LEN), _checked(b.text_problem)]
Spec = Annotated[str, Field(min_length=1, max_length=10_000), _checked(b.text_problem)]
JobName = Annotated[str, _checked(lambda v: b.name_problem(v, b.MAX_NAME_LEN))]
Environment = Annotated[dict[Text, Text], Field(max_length=b.MAX_ENV_ENTRIES)]
Argv = Annotated[list[Text], Field(max_length=b.MAX_ARGS)]

class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SubmitRequest(_Body):
    name: JobName
    working_dir: Path_
    script: Text | None = None
    argv: Argv = []
    environment: Environment = {}
    stdout: Path_ = "corral-%j.out"
    stderr: Path_ | None = None
    partition: Ident | None = None
    account: Ident | None = None
    nodes: Annotated[int, _ints(b.NODES_PER_JOB)] = 1
    cpus_per_node: Annotated[int, _ints(b.CPUS_PER_NODE)] = 1
    mem_mb_per_node: Annotated[int, _ints(b.MEM_MB)] | None = None
    gpus_per_node: Annotated[int, _ints(b.GPUS_PER_NODE)] = 0
    # None: the partition's default; 0: unlimited (refused where the partition has a maximum)
    time_limit_s: Annotated[int, _ints(b.TIME_LIMIT_S)] | None = None
    nice: Annotated[int, _ints(b.NICE)] = 0
    priority: Annotated[int, _ints(b.PRIORITY)] | None = None
    hold: bool = False
    t_begin: Epoch | None = None
    requeue: bool = True
    max_retries: Annotated[int, Field(ge=0, le=MAX_RETRIES_LIMIT)] | None = None
    features: Features = []
    nodelist: Annotated[list[Ident], Field(max_length=100_000)] = []  # must be in the allocation
    exclude: Annotated[list[Ident], Field(max_length=100_000)] = []  # may not be
    exclusive: bool = False
    array: Spec | None = None
    dependency: Spec | None = None
    kill_on_invalid_dep: bool = True
    signal: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    qos: Ident | None = None
    reservation: Ident | None = None
    interactive: bool = False  # an allocation (salloc): ended by its client
    notify: bool = False  # SIGUSR2 (not SIGTERM) before SIGKILL when killed
    requirements: Annotated[Text, Field(min_length=1, max_length=10_000)] | None = None
    rank: Annotated[Text, Field(min_length=1, max_length=10_000)] | None = None
    retry_count: Annotated[int, Field(ge=0, le=MAX_RETRIES_LIMIT)] | None = None
    licenses: Annotated[Text, Field(min_length=1, max_length=10_000)] | None = None
    gpu_type: Annotated[str, Field(min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")] | None = None
    jdl: Annotated[Text, Field(min_length=1, max_length=b.MAX_JDL_BYTES)] | None = None
    credential: bool = False  # the owner's access token in a file inside the job
    cpu_bind: Annotated[Text, Field(max_length=30_000)] | None = None  # model/cpubind.py
    core_type: Annotated[Text, Field(max_length=32)] | None = None
    gres_flags: Annotated[Text, Field(max_length=32)] | None = None
    gres: Annotated[Text, Field(min_length=1, max_length=4000)] | None = None
    # SHA256:MODE:NAME of files uploaded first (PUT /v1/sandboxes/{sha256})
    input_sandbox: Annotated[list[Annotated[Text, Field(max_length=400)]],
                             Field(max_length=1000)] = []
    output_sandbox: Annotated[list[Annotated[Text, Field(max_length=255)]],
                              Field(max_length=1000)] = []
    user: Ident | None = None  # an administrator submitting for another user
    idempotency_key: str | None = None  # or the Idempotency-Key header

    @field_validator("cpu_bind")
    @classmethod
    def _cpu_bind(cls, v: str | None) -> str | None:
        return check_cpu_bind(v) or None if v is not None else None

    @field_validator("core_type")
    @classmethod
    def _core_type(cls, v: str | None) -> str | None:
        return check_core_type(v) or None if v is not None else None

    @field_validator("gres_flags")
    @classmethod
    def _gres_flags(cls, v: str | None) -> str | None:
        return check_gres_flags(v) or None if v is not None else None

    def to_spec(self) -> JobSpec:
        # its fields as they are (all plain values: what model_dump would copy;
        # from_dict makes its own tuples and shared copies of them)
        d: dict[str, Any] = dict(self.__dict__)
        del d["user"], d["idempotency_key"]
        return JobSpec.from_dict(d)


class CancelRequest(_Body):
    signal: Annotated[int, _ints(b.SIGNAL)] | None = None
    target: Literal["all", "batch", "steps"] = "all"  # with a signal: who receives it
    step_id: Annotated[StrictInt, _ints(b.STEP_ID)] | None = None  # "steps": just this one


class EndRequest(_Body):
    exit_code: Annotated[int, _ints(b.EXIT_CODE)] = 0


class StepRequest(_Body):
    argv: Annotated[Argv, Field(min_length=1)]
    name: Annotated[str, _checked(lambda v: b.name_problem(v, b.MAX_NAME_LEN) if v else None)] = ""
    working_dir: Path_
    environment: Environment = {}
    ntasks: Annotated[int, _ints(b.NODES_PER_JOB)] | None = None
    nodes: Annotated[int, _ints(b.NODES_PER_JOB)] | None = None
    cpus_per_task: Annotated[int, _ints(b.CPUS_PER_NODE)] = 1
    overcommit: bool = False
    io_port: Annotated[int, Field(ge=1, le=65535)]
    io_key: Annotated[Text, Field(min_length=8, max_length=200)]
    io_node: NodeName | None = None
    stdout: Path_ | None = None
    stderr: Path_ | None = None
    stdin: Annotated[Ident, Field(max_length=32)] = "0"
    nodelist: Annotated[list[NodeName], Field(min_length=1, max_length=b.NODES_PER_JOB[1])] \
        | None = None
    distribution: Annotated[Ident, Field(max_length=32)] = "block"
    pty: bool = False
    pty_rows: Annotated[int, Field(ge=1, le=10_000)] = 24
    pty_cols: Annotated[int, Field(ge=1, le=10_000)] = 80

    def to_request(self) -> ServiceStepRequest:
        d = self.model_dump()
        d["argv"] = tuple(d["argv"])
        d["nodelist"] = tuple(d["nodelist"]) if d["nodelist"] else None
        return ServiceStepRequest(**d)


class StepEndRequest(_Body):
    exit_code: Annotated[int, _ints(b.EXIT_CODE)] | None = None
    signal: Annotated[int, _ints(b.SIGNAL)] | None = None
    cancelled: bool = False
    out_of_memory: bool = False  # a task was killed for the job's memory limit


class RequeueRequest(_Body):
    hold: bool = False


class UpdateRequest(_Body):
    """Fields left out keep their value; null resets an optional one (time_limit_s,
    priority, partition, t_begin, mem_mb_per_node, account) to its default."""

    name: JobName | None = None
    time_limit_s: Annotated[int, _ints(b.TIME_LIMIT_S)] | None = None  # 0: unlimited
    nice: Annotated[int, _ints(b.NICE)] | None = None
    priority: Annotated[int, _ints(b.PRIORITY)] | None = None
    partition: Ident | None = None
    t_begin: Epoch | None = None
    cpus_per_node: Annotated[int, _ints(b.CPUS_PER_NODE)] | None = None
    mem_mb_per_node: Annotated[int, _ints(b.MEM_MB)] | None = None
    account: Ident | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> UpdateRequest:
        for field in ("name", "nice", "cpus_per_node"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field}: null is not a value for it (leave the field "
                                 "out to keep it)")
        return self


class ReservationRequest(_Body):
    name: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")]
    nodes: Annotated[list[NodeName], Field(min_length=1, max_length=b.NODES_PER_JOB[1])]
    t_start: Epoch
    t_end: Epoch
    users: Annotated[list[Ident], Field(max_length=10_000)] = []
    accounts: Annotated[list[Ident], Field(max_length=10_000)] = []
    maintenance: bool = False  # nobody runs on these nodes in the window


class DrainRequest(_Body):
    reason: Annotated[str, _checked(lambda v: b.name_problem(v, 1000))]


class CredentialHandover(_Body):
    refresh_token: Annotated[str, Field(min_length=1, max_length=16_384)]


class CredentialHandle(_Body):
    id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    handle: Annotated[str, Field(min_length=16, max_length=200)]
