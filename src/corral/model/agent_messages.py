"""What an agent sends the controller (docs/specs/02-agent-protocol.md §3, §6): one
typed definition per message, built by the agent (corral.agent.daemon) and parsed by
the controller (corral.api routes, corral.services.agents) from the same classes.

Every field has its range from corral.model.bounds: a body outside them is refused
with a 400 naming the field (the agent checks its own before sending). Fields this
controller does not know are ignored, so that a newer agent can add some.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corral.model import bounds as b
from corral.model.fields import Epoch, Features, JobId, Measure, Message, NodeName, Text, ints

JOB_END_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY")
MAX_MESSAGE_CHARS = 1000  # a health check's, prolog's or epilog's line
BootId = Annotated[Text, Field(max_length=255)]
Run = Annotated[int, ints((0, b.INT32_MAX))]
Line = Annotated[Message, Field(max_length=MAX_MESSAGE_CHARS)]


class _Message(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")


class AgentRunning(_Message):
    """A job (or a job's steps) running on the node, with its usage at the last sample."""

    job_id: JobId
    pid: Annotated[int, ints(b.PID)] | None = None
    run: Run | None = None  # which run of the job (None: an agent that does not say)
    rss_mb: Measure = 0.0
    max_rss_mb: Measure = 0.0
    cpu_time_s: Measure = 0.0


class AgentJobReport(_Message):
    """How a job ended on a node (spec 02 §3)."""

    job_id: JobId
    state: Literal["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY"]
    exit_code: Annotated[int, ints(b.EXIT_CODE)] | None = None
    signal: Annotated[int, ints(b.SIGNAL)] | None = None
    t_start: Epoch | None = None
    t_end: Epoch | None = None
    cpu_time_s: Measure | None = None
    max_rss_mb: Measure | None = None
    energy_j: Measure | None = None  # None: the node has no energy counter
    message: Message = ""
    cancelled: bool = False  # ended by a cancel order
    run: Run | None = None  # the launch's run (None: an agent that does not say)
    prolog_failed: bool = False  # it never started: its prolog failed on this node
    prolog_message: Message = ""
    epilog_failed: bool = False  # it ended; its epilog failed here afterwards
    epilog_message: Message = ""
    lost: bool = False  # killed here because the node's lease lapsed


class AgentVerdict(_Message):
    """The node's health check's latest result."""

    ok: bool
    message: Line = ""


CoreType = Literal["performance", "efficiency"]
Count = Annotated[int, ints((0, b.INT32_MAX))]


class AgentTopology(_Message):
    """The node's CPUs as the kernel shows them (corral.agent.topology), over the CPUs
    the agent may use; core_types counts cores per type (empty: no core types)."""

    sockets: Count
    numa_nodes: Count
    cores: Count
    threads: Count
    cpu_list: Annotated[Text, Field(max_length=4000)] = ""
    core_types: dict[CoreType, Count] = {}
    type_source: Annotated[Text, Field(max_length=255)] = ""
    # each GPU's NUMA domain, by device index (-1: unknown; empty: no GPU read)
    gpu_numa: Annotated[list[Annotated[int, ints((-1, b.INT32_MAX))]],
                        Field(max_length=b.GPUS_PER_NODE[1])] = []
    # each CPU: [id, socket, core, NUMA domain, core type ("": none)], by id; the
    # scheduler chooses jobs' CPUs from it (empty: an agent that does not say)
    layout: Annotated[list[tuple[Count, Count, Count, Count, CoreType | Literal[""]]],
                      Field(max_length=b.CPUS_PER_NODE[1])] = []


class AgentRegister(_Message):
    node: NodeName
    cpus: Annotated[int, ints(b.CPUS_PER_NODE)]
    mem_mb: Annotated[int, ints(b.MEM_MB)]
    gpus: Annotated[int, ints(b.GPUS_PER_NODE)] = 0
    features: Features = []
    agent_version: Annotated[Text, Field(max_length=255)] = ""
    boot_id: BootId = ""
    address: Annotated[Text, Field(max_length=255)] | None = None  # step I/O reaches here
    running: list[AgentRunning] = []
    finished: list[AgentJobReport] = []  # reports the agent still holds
    health: AgentVerdict | None = None  # the health check's latest verdict, if any
    topology: AgentTopology | None = None  # None: an agent that does not say
    # the site it belongs to (None: none); a pilot's deadline (the end of its
    # allocation, epoch seconds) and its job id in the site's batch system
    site: Annotated[Text, Field(max_length=64, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")] \
        | None = None
    deadline: Epoch | None = None
    batch_job: Annotated[Text, Field(max_length=255)] = ""


class AgentPoll(_Message):
    node: NodeName
    boot_id: BootId = ""
    running: list[AgentRunning] = []
    steps_usage: list[AgentRunning] = []  # jobs whose steps, not batch script, run here
    unacknowledged: list[JobId] | None = None  # jobs whose reports the agent still holds
    wait_s: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)] = 20.0


class AgentHealth(_Message):
    node: NodeName
    boot_id: BootId = ""
    ok: bool
    message: Line = ""  # the first line of its output


class AgentCheck(_Message):
    """A prolog or epilog failed on a node of a job other than its batch node (§6)."""

    node: NodeName
    boot_id: BootId = ""
    kind: Literal["prolog", "epilog"]
    job_id: JobId
    run: Run = 0
    message: Line = ""


class AgentLeave(_Message):
    """A pilot with nothing to run leaves: the node is forgotten unless a job was
    given to it meanwhile (docs/pilots.md)."""

    node: NodeName
    boot_id: BootId = ""
    why: Line = ""
    # its allocation is ending (the batch system ends it): it takes no job from now
    # on, even if it cannot leave yet (its jobs' reports are on their way)
    ending: bool = False


class AgentReport(_Message):
    node: NodeName
    reports: list[AgentJobReport]


def problem(err: ValidationError) -> str:
    """A refused message's first problem as one line: the field, what is wrong."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return " ".join(f"{where}: {first['msg']}".split())
