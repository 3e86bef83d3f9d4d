"""The scheduler core's inputs and outputs (docs/specs/03-scheduler.md).

All frozen, slotted, stdlib only. Times are epoch seconds (floats) on whatever
clock the caller uses (wall clock in the controller, virtual in the simulator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from corral.model.topology import Topology
from corral.sched.priority import Factors


@dataclass(frozen=True, slots=True)
class NodeView:
    name: str
    cpus: int
    mem_mb: int
    gpus: int
    features: frozenset[str]
    cpus_free: int
    mem_mb_free: int
    gpus_free: int
    available: bool  # False: down/drained/draining
    # generic resources (name, count), sorted by name: the node's, and free now
    gres: tuple[tuple[str, int], ...] = ()
    gres_free: tuple[tuple[str, int], ...] = ()
    # a pilot's end (docs/pilots.md): jobs that would still run then do not start here
    t_deadline: float = float("inf")
    site: str = ""  # the site it belongs to ("": none), for Snapshot.site_limits
    # its CPUs as its agent reported them (None: unknown: only counted), and the CPU
    # ids each running job holds there (job id, ids)
    cpu_layout: Topology | None = None
    cpus_held: tuple[tuple[int, tuple[int, ...]], ...] = ()
    gpu_numa: tuple[int, ...] = ()  # each GPU's NUMA domain by index (empty: unknown)
    gpu_ids_used: frozenset[int] = frozenset()  # the GPU indices running jobs hold


@dataclass(frozen=True, slots=True)
class RunningView:
    job_id: int
    nodes: tuple[str, ...]
    cpus_per_node: int
    mem_mb_per_node: int
    gpus_per_node: int
    t_start: float
    t_expected_end: float  # now + remaining limit (inf if unlimited)
    # EASY++: the end predicted when the job started (None: use t_expected_end).
    # Once `now` reaches it and the job still runs, t_expected_end is used.
    t_predicted_end: float | None = None
    user: str = ""
    exclusive: bool = False  # holds its nodes whole: they free up entirely at its end
    preemptible: bool = False  # may be stopped for a job of a higher-tier partition
    priority_tier: int | None = None  # its partition's tier (None: lowest tier holding its nodes)
    qos: str | None = None  # its QOS (Snapshot.qos_preempts says who may preempt it)
    account: str | None = None  # for per-account limits
    licenses: tuple[tuple[str, int], ...] = ()  # cluster-wide licenses it holds
    gres_per_node: tuple[tuple[str, int], ...] = ()  # generic resources it holds per node


@dataclass(frozen=True, slots=True)
class PendingView:
    job_id: int
    user: str
    account: str | None
    partition: str
    nodes: int
    cpus_per_node: int
    mem_mb_per_node: int
    gpus_per_node: int
    time_limit_s: float  # 0/inf = unlimited
    t_submit: float
    t_begin: float | None = None
    held: bool = False
    nice: int = 0
    admin_priority: int | None = None
    constraint: str | None = None
    exclusive: bool = False  # whole nodes, nothing else may share them
    qos: str | None = None  # a name in Snapshot.qos_priority
    reservation: str | None = None  # run inside this advance reservation
    required_nodes: frozenset[str] = frozenset()  # the allocation must include these
    excluded_nodes: frozenset[str] = frozenset()  # and may not use these
    # Matchmaking, evaluated by the controller (services/matchmaking.py): the nodes
    # whose ad meets the job's Requirements (None: any node), and the job's Rank of
    # nodes (node, value): among the nodes that fit, higher values are chosen first.
    eligible_nodes: frozenset[str] | None = None
    node_rank: tuple[tuple[str, float], ...] = ()
    licenses: tuple[tuple[str, int], ...] = ()  # cluster-wide licenses it needs
    gres_per_node: tuple[tuple[str, int], ...] = ()  # generic resources, sorted by name
    # CPU binding (model.cpubind): the core type all its CPUs must be of on nodes with
    # core types ("": any); a core type preferred only ("": none); cpu_bind; gres_flags
    core_type: str = ""
    prefer_core_type: str = ""
    cpu_bind: str = ""
    gres_flags: str = ""


@dataclass(frozen=True, slots=True)
class PartitionView:
    name: str
    nodes: frozenset[str]
    max_time_s: float
    priority_tier: int = 0


@dataclass(frozen=True, slots=True)
class ReservationView:
    """Nodes set aside over [t_start, t_end): only jobs that name the
    reservation (and whose user or account it lists; empty lists: anyone) may
    use them then, and such jobs run only there and then."""

    name: str
    nodes: frozenset[str]
    t_start: float
    t_end: float
    users: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Limits:
    """What may run at once (0: unlimited). A job over a limit waits with the
    limit's name as its reason; jobs are admitted in priority order."""

    max_jobs_per_user: int = 0
    max_cpus_per_user: int = 0
    max_gpus_per_user: int = 0
    max_jobs_per_account: int = 0  # a job without an account counts as its user's
    max_cpus_per_account: int = 0
    qos_max_jobs_per_user: dict[str, int] = field(default_factory=dict)  # QOS -> limit
    qos_max_cpus_per_user: dict[str, int] = field(default_factory=dict)
    # (user, account) -> that user's jobs in that account running at once (associations)
    assoc_max_jobs: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SiteLimits:
    """What one user may run at once on the nodes of one site (0: unlimited)."""

    max_jobs_per_user: int = 0
    max_cpus_per_user: int = 0


@dataclass(frozen=True, slots=True)
class SiteFairshare:
    """A site's own fair-share inputs (corral.sched.site_fairshare): the decayed usage
    on its nodes and the shares there, keyed by account (else user)."""

    usage_cpu_s: dict[str, float] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    nodes: tuple[NodeView, ...]
    running: tuple[RunningView, ...]
    pending: tuple[PendingView, ...]
    partitions: dict[str, PartitionView]
    # EASY++ history: user -> that user's most recent finished runtimes, oldest
    # first (only the last two are used). Alternative to Policy.record_finish.
    user_runtimes_s: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # Fair-share inputs, keyed by account (a job without one counts as its
    # user): decayed usage in CPU-seconds and configured shares.
    usage_cpu_s: dict[str, float] = field(default_factory=dict)
    shares: dict[str, float] = field(default_factory=dict)
    # With an account tree (associations): the fair-share factor of each user's
    # association, keyed (account, user), and of each account, keyed (account, "");
    # used for jobs whose account is in the tree, before the flat factors above.
    assoc_fairshare: dict[tuple[str, str], float] = field(default_factory=dict)
    # QOS name -> priority (normalized by the largest one for the QOS factor)
    qos_priority: dict[str, float] = field(default_factory=dict)
    reservations: tuple[ReservationView, ...] = ()
    # QOS name -> the QOS names whose running jobs it may preempt
    qos_preempts: dict[str, frozenset[str]] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    licenses: dict[str, int] = field(default_factory=dict)  # name -> how many there are
    # site -> its per-user limits on its nodes (NodeView.site; corral.sched.site_limits)
    site_limits: dict[str, SiteLimits] = field(default_factory=dict)
    # site -> its own fair-share (NodeView.site; corral.sched.site_fairshare)
    site_fairshare: dict[str, SiteFairshare] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Start:
    job_id: int
    nodes: tuple[str, ...]
    # per node with a known topology: (node, CPU ids, GPU ids) chosen for the job
    placed: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = ()


class PendingInfo(NamedTuple):  # one per pending job and pass: cheap to make
    job_id: int
    reason: str
    priority: float
    t_expected_start: float | None


@dataclass(frozen=True, slots=True)
class Decisions:
    starts: tuple[Start, ...]
    pending: dict[int, PendingInfo]
    preempt: tuple[int, ...] = ()  # running jobs to stop (requeue or cancel)
    preemptor: int | None = None  # the pending job they make room for
    factors: dict[int, Factors] = field(default_factory=dict)  # pending job -> its priority


class Reason:
    """Pending reasons (Slurm's names, so `squeue` front ends can show them as is)."""

    PRIORITY = "Priority"  # waits behind higher-priority jobs
    RESOURCES = "Resources"  # first in line, waits for resources to free up
    HELD = "JobHeld"
    BEGIN_TIME = "BeginTime"
    PARTITION_TIME_LIMIT = "PartitionTimeLimit"
    PARTITION_NODE_LIMIT = "PartitionNodeLimit"  # asks more than the partition can ever give
    NO_PARTITION = "InvalidPartition"
    BAD_CONSTRAINTS = "BadConstraints"
    NODES_UNAVAILABLE = "ReqNodeNotAvail"  # would fit, but the nodes are down or drained
    RESERVATION = "Reservation"  # waits for its reservation to start
    BAD_RESERVATION = "InvalidReservation"  # unknown, ended, or not allowed in it
    PREEMPTING = "Preempting"  # lower-tier jobs are being stopped to make room
    SCHEDULING_FAILED = "SchedulingFailed"  # made a cycle raise: held until released
    LICENSES = "Licenses"  # waits for cluster-wide licenses others hold
    # the nodes it could use are pilots that end before its time limit would (a new
    # pilot, or one that ends later, will take it)
    NODE_DEADLINE = "NodeDeadline"
    # set by the controller before a job reaches the core
    DEPENDENCY = "Dependency"  # waits for the jobs it depends on
    DEPENDENCY_NEVER = "DependencyNeverSatisfied"  # they ended so that it never can
    ARRAY_TASK_LIMIT = "JobArrayTaskLimit"  # its array's %N tasks are running
