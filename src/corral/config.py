"""Configuration: one TOML file plus CORRAL_* environment variables (docs/configuration.md).

Unknown keys are errors that name the key. Every duration and size carries its unit
in its name.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from corral.model.billing import parse_billing
from corral.model.errors import InvalidRequest
from corral.model.job import MAX_RETRIES_LIMIT
from corral.model.units import parse_duration_s, parse_mem_mb


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(v: Any, field: str) -> int:
    if isinstance(v, str):
        return parse_duration_s(field, v)
    return int(v)


_FILTER_REF = re.compile(
    r"^([A-Za-z_]\w*(\.[A-Za-z_]\w*)*|/[^\x00\n:]+\.py):[A-Za-z_]\w*$")


class ControllerConfig(_Strict):
    socket: str | None = None  # default: <state_dir>/corral.sock
    listen: str | None = None  # "HOST:PORT" to also serve TCP
    # TLS on the TCP listener (PEM files); both or neither
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    database: str | None = None  # default: sqlite:///<state_dir>/corral.db
    cluster_key: str | None = None
    node_timeout_s: Annotated[int, Field(ge=1)] = 60
    # an agent's jobs die once it has not heard from the controller this long; the
    # controller ends them (NODE_FAIL or requeued) after node_lease_s + kill_grace_s + 2
    node_lease_s: Annotated[int, Field(ge=2, le=86400)] = 20
    kill_grace_s: Annotated[int, Field(ge=0)] = 5
    keep_finished_s: Annotated[int, Field(ge=0)] = 300
    # a job whose working or output directory does not exist yet waits this long for it
    # (tools create it right after submitting) before it fails
    output_wait_s: Annotated[float, Field(ge=0, le=3600)] = 10.0
    # False: a job's memory request only places it (the scheduler counts it); agents
    # do not kill a job that uses more
    enforce_memory: bool = True
    # automatic requeues (node failure, failing prolog) a job gets before it ends
    # instead; a job's own max_retries overrides it, a JDL job's ShallowRetryCount
    # (and RetryCount) is capped by it
    max_retries: Annotated[int, Field(ge=0, le=MAX_RETRIES_LIMIT)] = 3
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # "json": the controller's log (and the agent `corral up` starts) as JSON lines
    log_format: Literal["text", "json"] = "text"
    # like Slurm's PrivateData: "jobs" hides other users' jobs from plain users
    # (listings, show, events, history); scripts and environments are private always
    private_data: list[Literal["jobs"]] = []
    # the site's submit filter, "module:function" or "/path/file.py:function"
    # (services/submit_filter.py): may refuse or amend every job submitted
    submit_filter: str | None = None
    # controllers sharing one PostgreSQL database (docs/deployment.md): the leader's
    # lease; a follower takes over once the leader has not renewed it this long
    leader_lease_s: Annotated[float, Field(ge=1, le=300)] = 5.0
    # a follower keeps a warm copy of the queue (it follows the event log), answers
    # reads from it and takes over from it; false: it loads the queue when it takes
    # over and sends every request to the leader
    warm_standby: bool = True
    # how the other controllers, agents and clients reach this one (shown to them
    # when it leads); default http(s)://<listen>, else unix://<socket>
    advertise_url: str | None = None

    @field_validator("submit_filter", mode="before")
    @classmethod
    def _filter(cls, v: Any) -> Any:
        if v is not None and not (isinstance(v, str) and _FILTER_REF.match(v)):
            raise ValueError('needs "module:function" or "/path/file.py:function"')
        return v


class MappedUser(_Strict):
    """A local account for a token's user: `user` alone is looked up in the system's
    user database; with uid (and gid, default the uid) it need not be there."""

    user: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    uid: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    gid: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


Algorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                    "ES384", "ES512", "EdDSA", "Ed25519"]


class IssuerConfig(_Strict):
    """An OpenID provider whose access tokens (JWTs) the REST API takes
    (docs/identity.md)."""

    issuer: Annotated[str, Field(min_length=1)]  # its `iss`, and where its discovery is
    audience: Annotated[str, Field(min_length=1)]  # what `aud` must hold
    algorithms: Annotated[list[Algorithm], Field(min_length=1)] = ["RS256", "ES256"]
    user_claim: str = "preferred_username"  # the claim naming the local user
    groups_claim: str = "groups"  # roles come from [roles].claim
    # claim value -> local user; values not here are local user names when
    # passwd_lookup is true
    users: dict[str, str | MappedUser] = {}
    passwd_lookup: bool = True
    # service accounts (client-credentials tokens carry no user claim): client_id ->
    # local user; a client not listed here is refused
    clients: dict[str, str | MappedUser] = {}
    clock_skew_s: Annotated[int, Field(ge=0, le=600)] = 30
    # an unknown key id fetches the key set again, at most once per this long
    jwks_refetch_min_s: Annotated[float, Field(ge=0, le=3600)] = 10.0
    jwks_max_age_s: Annotated[int, Field(ge=1, le=86400)] = 3600  # refetched after this long
    # for `corral login` (the device flow), told to clients by GET /v1/auth
    client_id: str | None = None
    scopes: list[str] = ["openid", "offline_access"]
    resource: str | None = None  # RFC 8707 resource indicator to ask tokens for
    # for the web dashboard's sign-in (authorization code with PKCE, docs/dashboard.md):
    # a public client whose redirect URI is <the dashboard's URL>/ui/login/callback
    web_client_id: str | None = None

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, v: str) -> str:
        return _https_or_loopback(v, "auth.issuers.issuer")


def _https_or_loopback(url: str, field: str) -> str:
    parts = urlsplit(url)
    loopback = parts.hostname in ("localhost", "::1") or (
        parts.hostname or "").startswith("127.")
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return url
    raise ValueError(f"{field}: needs an https:// URL (http:// only on the loopback), "
                     f"got {url!r}")


MAX_UID = 2**32 - 2  # (2**32 - 1 is (uid_t) -1)


class RelayConfig(_Strict):
    """A login host's relay (corral-relay) whose word on its local callers' uids the
    controller takes (docs/identity.md, "Login hosts and the relay")."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    key_file: Annotated[str, Field(min_length=1)]  # the shared secret it presents
    # addresses or networks (CIDR) it may connect from; empty: any
    hosts: list[str] = []
    # the uids it may speak for, and the highest role its callers get
    min_uid: Annotated[int, Field(ge=0, le=MAX_UID)] = 1000
    max_uid: Annotated[int, Field(ge=0, le=MAX_UID)] = MAX_UID
    max_role: Literal["user", "operator", "admin"] = "user"
    # where the nodes reach its host (srun's output); default: the address it
    # connects from
    address: str | None = None

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        import ipaddress
        for host in v:
            try:
                ipaddress.ip_network(host, strict=False)
            except ValueError:
                raise ValueError(f"auth.relays.hosts: {host!r} is not an address or a "
                                 f"network (10.0.0.5, 10.0.0.0/24)") from None
        return v


class AuthConfig(_Strict):
    issuers: list[IssuerConfig] = []
    relays: list[RelayConfig] = []
    # /metrics, /v1/status and the OpenAPI document to callers with no credentials
    # over TCP (the Unix socket always serves them)
    anonymous_read: bool = False


def _program(v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, str) or not v.startswith("/") or any(c in v for c in "\0\n"):
        raise ValueError("needs an absolute path to a program")
    return v


class WebConfig(_Strict):
    """The web dashboard the controller serves under /ui (docs/dashboard.md)."""

    enabled: bool = True
    # the dashboard's address as browsers reach it, when a proxy stands in front
    # (its sign-in's redirect URI is built from it); default: the request's own
    public_url: str | None = None
    refresh_s: Annotated[float, Field(ge=1, le=3600)] = 5.0  # how often pages look for news
    session_max_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 12 * 3600  # a sign-in lasts


class AgentConfig(_Strict):
    """What every agent runs on its node besides jobs (sent to agents when they register):
    the site's health check, and each job's prolog and epilog."""

    health_check_program: str | None = None  # absolute path; None: no health check
    health_check_interval_s: Annotated[int, Field(ge=1, le=86400)] = 60
    health_check_timeout_s: Annotated[int, Field(ge=1, le=86400)] = 60
    prolog: str | None = None  # absolute path, run before each job on its node
    epilog: str | None = None  # absolute path, run after each job on its node
    prolog_timeout_s: Annotated[int, Field(ge=1, le=86400)] = 60
    epilog_timeout_s: Annotated[int, Field(ge=1, le=86400)] = 60

    @field_validator("health_check_program", "prolog", "epilog", mode="before")
    @classmethod
    def _programs(cls, v: Any) -> Any:
        return _program(v)

    @field_validator("health_check_interval_s", "health_check_timeout_s", "prolog_timeout_s",
                     "epilog_timeout_s", mode="before")
    @classmethod
    def _times(cls, v: Any, info: Any) -> int:
        return _duration(v, f"agent.{info.field_name}")


class WeightsConfig(_Strict):
    """Multifactor priority weights; each factor is normalized to [0, 1]."""

    age: Annotated[float, Field(ge=0)] = 1000.0
    size: Annotated[float, Field(ge=0)] = 0.0
    partition: Annotated[float, Field(ge=0)] = 0.0
    nice: Annotated[float, Field(ge=0)] = 0.0
    fairshare: Annotated[float, Field(ge=0)] = 0.0
    qos: Annotated[float, Field(ge=0)] = 0.0
    max_age_s: int = 7 * 86400  # age reaches 1 after this long
    favor_small: bool = False

    @field_validator("max_age_s", mode="before")
    @classmethod
    def _age(cls, v: Any) -> int:
        return _duration(v, "scheduler.weights.max_age_s")


class SchedulerConfig(_Strict):
    policy: Literal["fcfs", "easy", "conservative", "easy++", "predictive"] = "easy"
    max_interval_s: Annotated[float, Field(gt=0)] = 5.0  # a pass at least this often
    fairshare_half_life_s: int = 7 * 86400  # usage decays by half over this
    weights: WeightsConfig = WeightsConfig()
    # low-priority work (nice > 0) that asks no core type runs on efficiency cores of
    # hybrid nodes while enough are free (docs/resources.md, energy-aware placement)
    energy_aware: bool = False
    # policy = "predictive": its starvation guard (docs/sim.md, "The predictive policy").
    # A job starves once it has waited starve_waits times the mean wait of the jobs
    # started so far, at least starve_min_s; a fixed starve_s until starve_warmup jobs
    # have started, or always with starve_waits = 0
    starve_waits: Annotated[float, Field(ge=0, le=1000)] = 12.0
    starve_min_s: Annotated[int, Field(ge=0, le=365 * 86400)] = 3600
    starve_s: Annotated[int, Field(ge=1, le=365 * 86400)] = 2 * 86400
    starve_warmup: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    # how many starving jobs go first, each booked with its limit (0: all of them);
    # whether running jobs are then planned at their limits, and which other jobs
    starve_book_max: Annotated[int, Field(ge=0, le=1_000_000)] = 1
    starving_at_limits: bool = False
    # with starving_at_limits: only while a starving job asks this share of the
    # available processors or more (0: any starving job)
    starving_at_limits_share: Annotated[float, Field(ge=0, le=1)] = 0.0
    limits_while_starving: Literal["none", "crossing", "all"] = "crossing"
    # policy = "predictive": how runtimes are predicted ("learned": a model fitted on
    # the last jobs that ended; "recent": the mean of the last two of the job's group)
    predictor: Literal["learned", "recent"] = "learned"

    @field_validator("fairshare_half_life_s", mode="before")
    @classmethod
    def _half_life(cls, v: Any) -> int:
        return _duration(v, "scheduler.fairshare_half_life_s")

    @field_validator("starve_min_s", "starve_s", mode="before")
    @classmethod
    def _starve_durations(cls, v: Any, info: ValidationInfo) -> Any:
        # "D-HH:MM:SS" forms; numbers are checked against the bounds as given
        return parse_duration_s(f"scheduler.{info.field_name}", v) if isinstance(v, str) else v

    def predictive_settings(self) -> dict[str, Any]:
        """The predictive policy's settings (its predictor and its starvation
        guard), as `corral.sched.Predictive.from_settings` takes them."""
        return {
            "predictor": self.predictor,
            "starve_waits": self.starve_waits,
            "starve_min_s": float(self.starve_min_s),
            "starve_s": float(self.starve_s),
            "starve_warmup": self.starve_warmup,
            "starve_book_max": self.starve_book_max or None,
            "starving_at_limits": self.starving_at_limits,
            "starving_at_limits_share": self.starving_at_limits_share,
            "limits_while_starving": self.limits_while_starving,
        }


class AccountConfig(_Strict):
    """A fair-share entity: an account, or a user (jobs without an account)."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    shares: Annotated[float, Field(gt=0)] = 1.0


class QosConfig(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    priority: Annotated[float, Field(ge=0)] = 0.0
    max_jobs_per_user: Annotated[int, Field(ge=0)] = 0  # running at once; 0: unlimited
    max_cpus_per_user: Annotated[int, Field(ge=0)] = 0
    preempt: list[str] = []  # QOS names whose running jobs this QOS may preempt
    preempt_mode: Literal["requeue", "cancel"] = "requeue"  # for this QOS's victims


class AccountingConfig(_Strict):
    """Associations (sacctmgr, docs/accounting.md): whether a submission must use an
    account its user is associated with. None: once any user association exists."""

    enforce_associations: bool | None = None
    # how often the controller adds the cluster's capacity (all, down, reserved
    # CPU-seconds) to the utilization report's hourly table
    capacity_sample_s: Annotated[float, Field(ge=1, le=3600)] = 60.0


SITE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"


class SiteLimitsConfig(_Strict):
    """What one user may run at once on the nodes of one site; 0 means unlimited."""

    max_jobs_per_user: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    max_cpus_per_user: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0


class LimitsConfig(_Strict):
    """Cluster-wide limits on what runs at once; 0 means unlimited."""

    max_jobs_per_user: Annotated[int, Field(ge=0)] = 0
    max_cpus_per_user: Annotated[int, Field(ge=0)] = 0
    max_gpus_per_user: Annotated[int, Field(ge=0)] = 0
    max_jobs_per_account: Annotated[int, Field(ge=0)] = 0
    max_cpus_per_account: Annotated[int, Field(ge=0)] = 0
    # site name -> its per-user limits on the nodes of that site ([limits.sites.NAME])
    sites: dict[str, SiteLimitsConfig] = {}

    @field_validator("sites")
    @classmethod
    def _site_names(cls, v: dict[str, SiteLimitsConfig]) -> dict[str, SiteLimitsConfig]:
        _site_names_ok(v)
        return v


def _site_names_ok(v: dict[str, Any]) -> None:
    for name in v:
        if not re.fullmatch(SITE_NAME, name):
            raise ValueError(f"site name {name!r} does not match {SITE_NAME} "
                             "(letters, digits, _ . -; at most 64)")


class SiteFairshareConfig(_Strict):
    """A site with a fair-share of its own ([fairshare.sites.NAME]): only the usage on
    its nodes counts there. `shares`: account (or user) -> shares on this site; empty:
    the [[accounts]] shares."""

    shares: dict[Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")],
                 Annotated[float, Field(gt=0, le=1e12)]] = {}


class FairshareConfig(_Strict):
    """Fair-share beyond the cluster-wide one (docs/accounting.md)."""

    # site name -> its own fair-share on the nodes of that site
    sites: dict[str, SiteFairshareConfig] = {}

    @field_validator("sites")
    @classmethod
    def _site_names(cls, v: dict[str, SiteFairshareConfig]
                    ) -> dict[str, SiteFairshareConfig]:
        _site_names_ok(v)
        return v


class PartitionConfig(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    nodes: list[str] | Literal["ALL"] = "ALL"
    default: bool = False
    max_time_s: int = 0  # 0: unlimited
    default_time_s: int = 0  # 0: the partition's max_time_s
    default_mem_mb_per_node: int | None = None
    max_nodes: int = 0  # 0: unlimited
    max_cpus_per_node: int = 0  # 0: unlimited
    priority_tier: int = 0
    # what happens to this partition's running jobs when a job of a higher tier
    # needs their nodes: "off" (never preempted), "requeue", "cancel" (PREEMPTED) or
    # "suspend" (stopped in place, CPUs and GPUs lent, resumed when the preemptor ends)
    preempt_mode: Literal["off", "requeue", "cancel", "suspend"] = "off"
    allow_accounts: list[str] = []  # empty: every account
    allow_groups: list[str] = []  # empty: every group (Unix groups of the job's owner)
    # TRES billing weights, e.g. "cpu=1.0,mem=0.25G,gpu=4.0" (model/billing.py);
    # empty: one billing unit per allocated CPU
    billing: str = ""

    @field_validator("billing")
    @classmethod
    def _billing(cls, v: str) -> str:
        parse_billing("partitions.billing", v)
        return v

    @field_validator("max_time_s", "default_time_s", mode="before")
    @classmethod
    def _time(cls, v: Any, info: Any) -> int:
        return _duration(v, f"partitions.{info.field_name}")


class NodeConfig(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    cpus: Annotated[int, Field(ge=1)] | None = None
    mem_mb: Annotated[int, Field(ge=1)] | None = None
    gpus: Annotated[int, Field(ge=0)] | None = None
    # the GPUs' model (a100, v100, …): jobs asking gpu:TYPE run only on such nodes
    gpu_type: Annotated[str, Field(min_length=1, max_length=64,
                                   pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")] | None = None
    # each GPU's NUMA domain by device index, where no driver tells the agent
    gpu_numa: list[Annotated[int, Field(ge=0, le=4095)]] = []
    # generic resources other than GPUs, per node: {nvme = 2, "fpga:xilinx" = 1}
    gres: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
                                            r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?$")],
               Annotated[int, Field(ge=1, le=2**31 - 1)]] = {}
    features: list[str] = []
    # site-defined attributes of the node's ad (docs/job-languages.md): Arch, OpSys
    # or any name a job's Requirements and Rank may read as other.NAME
    attributes: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")],
                     str | bool | int | float | list[str]] = {}

    @field_validator("mem_mb", mode="before")
    @classmethod
    def _mem(cls, v: Any) -> Any:
        return parse_mem_mb("nodes.mem_mb", v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _one_domain_per_gpu(self) -> NodeConfig:
        if self.gpu_numa and len(self.gpu_numa) != (self.gpus or 0):
            raise ValueError(f"gpu_numa: {len(self.gpu_numa)} domains for "
                             f"{self.gpus or 0} GPUs (one per GPU)")
        gpu = [k for k in self.gres if k == "gpu" or k.startswith("gpu:")]
        if gpu:
            raise ValueError(f"gres: {gpu[0]!r}: GPUs are configured with gpus and gpu_type")
        if any(k.split(":")[-1].isdigit() for k in self.gres):
            raise ValueError("gres: a name or type may not be a number (nvme, fpga:xilinx)")
        return self



class SiteConfig(_Strict):
    """A site whose batch system runs corral's pilots (docs/pilots.md): `corral pilot`
    submits agents there as ordinary jobs, sized by what waits for the site."""

    name: Annotated[str, Field(pattern=SITE_NAME)]
    batch: Literal["slurm", "sge"]
    # the pilots' shared secret with the controller (at least 32 bytes, mode 0600):
    # the factory signs each pilot's token with it, the controller checks them
    key_file: Annotated[str, Field(min_length=1)]
    # how pilots reach the controller ("http(s)://host:port"; comma separated: several)
    controller_url: Annotated[str, Field(min_length=1)]
    # extra arguments of every sbatch / qsub (partition, account, queue, -V…)
    submit_options: list[str] = []
    # where sbatch/squeue/scancel or qsub/qstat/qdel are ("": looked up on PATH)
    bin_dir: str = ""
    # environment of the batch commands (SLURM_CONF, SGE_ROOT, SGE_CELL…)
    env: dict[str, str] = {}
    # words run before every batch command, to reach the site's submit host:
    # ["ssh", "submit.site-a.org"], ["ip", "netns", "exec", "site-a"] ([]: run here)
    command_prefix: list[str] = []
    max_pilots: Annotated[int, Field(ge=1, le=100_000)] = 10
    pilot_cpus: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    pilot_mem_mb: Annotated[int, Field(ge=1)] = 1024
    pilot_wall_time_s: Annotated[int, Field(ge=60, le=365 * 86400)] = 3600
    # a pilot with nothing to run for this long leaves its allocation
    idle_timeout_s: Annotated[int, Field(ge=1, le=86400)] = 300
    # the pilot stops taking jobs this long before its wall time ends (its own exit,
    # the reports of its last jobs)
    deadline_margin_s: Annotated[int, Field(ge=0, le=86400)] = 30
    # the factory's pass: how often it compares demand with its pilots
    poll_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    # the agent a pilot runs (default: this Python's corral-agent module)
    agent_command: list[str] = []

    @field_validator("pilot_wall_time_s", "idle_timeout_s", "deadline_margin_s",
                     mode="before")
    @classmethod
    def _site_times(cls, v: Any, info: Any) -> int:
        return _duration(v, f"sites.{info.field_name}")

    @field_validator("command_prefix")
    @classmethod
    def _site_prefix(cls, v: list[str]) -> list[str]:
        if len(v) > 64:
            raise ValueError(f"has {len(v)} words, more than 64")
        for i, word in enumerate(v):
            if not word or "\0" in word or "\n" in word:
                raise ValueError(f"word {i} ({word!r}) is empty or holds a NUL or newline")
        return v

    @field_validator("pilot_mem_mb", mode="before")
    @classmethod
    def _site_mem(cls, v: Any) -> Any:
        return parse_mem_mb("sites.pilot_mem_mb", v) if isinstance(v, str) else v

    @property
    def pilot_time_s(self) -> int:
        """How long a new pilot takes jobs: its wall time less the margin."""
        return max(0, self.pilot_wall_time_s - self.deadline_margin_s)


class RolesConfig(_Strict):
    """Who is an operator or an administrator (docs/identity.md). Besides these, uid 0
    and the controller's own uid are administrators, and a token's `claim` (a list
    of role names, or one; a dotted path reaches into nested claims) grants roles."""
    operators: list[str] = []
    operator_groups: list[str] = []
    admins: list[str] = []
    admin_groups: list[str] = []
    claim: Annotated[str, Field(min_length=1)] = "roles"


class SandboxesConfig(_Strict):
    """Input and output sandbox files (docs/job-languages.md), stored once each under
    <state_dir>/sandboxes."""

    max_file_bytes: Annotated[int, Field(ge=1, le=2**40)] = 100 * 2**20  # one file
    max_job_bytes: Annotated[int, Field(ge=1, le=2**42)] = 1024 * 2**20  # a job's inputs
    # files and output lists unused this long are removed (0: kept for ever)
    retention_s: Annotated[float, Field(ge=0, le=10 * 365 * 86400)] = 7 * 86400.0


class CredentialsConfig(_Strict):
    """Jobs that carry their owner's token (`--credential`, docs/identity.md): the
    refresh tokens the controller keeps are encrypted with a key derived from
    `key_file` (at least 32 bytes, e.g. `head -c 32 /dev/urandom`), or from
    controller.cluster_key when it is not set."""

    key_file: str | None = None
    # an access token is renewed this long before it expires (at most half its life)
    renew_before_s: Annotated[float, Field(ge=1, le=86400)] = 60.0
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0  # each call to the provider


_UWS_PARAM = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
# `{name}` in uws.command (not `${NAME}`, the shell's own)
UWS_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z][A-Za-z0-9_]{0,63})\}")
# the names UWS itself gives meaning to: a site's parameters cannot take them
UWS_CONTROL_PARAMETERS = frozenset({"phase", "runid", "executionduration", "destruction",
                                    "action", "quote", "wait", "last", "after"})


class UwsParameter(_Strict):
    """One parameter a UWS job takes: its default (None: required) and what a value
    must look like (a regular expression the whole value matches)."""

    default: str | None = None
    pattern: str | None = None
    max_length: Annotated[int, Field(ge=1, le=65536)] = 1024
    # a file-valued parameter: uploaded as a file (multipart/form-data, or PUT to
    # the job's parameters/NAME); its {name} is the path of that file on the node
    file: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"pattern {v!r} is not a regular expression: {exc}") \
                    from None
        return v

    @model_validator(mode="after")
    def _file_has_no_pattern(self) -> UwsParameter:
        if self.file and self.pattern is not None:
            raise ValueError("pattern: a file parameter's value is a file (no pattern)")
        return self


class UwsConfig(_Strict):
    """The IVOA UWS 1.1 job list (docs/uws.md): how a UWS job's parameters become a
    corral job. `command` is the job's shell script, each `{name}` replaced by the
    parameter's value, shell-quoted."""

    enabled: bool = False
    path: Annotated[str, Field(pattern=r"^(/[A-Za-z0-9_.-]+)+$", max_length=200)] = "/uws"
    # the job list's URL as clients reach it (a controller behind a proxy): the
    # documents' links and the redirects use it instead of the request's host
    public_url: Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$",
                                     max_length=500)] | None = None
    command: str = ""
    parameters: dict[Annotated[str, Field(pattern=_UWS_PARAM)], UwsParameter] = {}
    # where the jobs run (each in a directory of its own inside); %u: the owner's name
    working_dir: str = "/tmp"
    partition: str | None = None
    cpus: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    mem_mb: Annotated[int | None, Field(ge=1)] = None
    # files the command writes in its directory, offered as the job's results
    # (besides `stdout`, its output)
    results: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]] = []
    # executionduration: a new job's, and the most a client may ask (0 asks for it)
    execution_duration_s: Annotated[int, Field(ge=1, le=2**31 - 1)] = 600
    max_execution_duration_s: Annotated[int, Field(ge=1, le=2**31 - 1)] = 86400
    # destruction: this long after creation, at most max_destruction_s after now
    destruction_s: Annotated[int, Field(ge=1, le=100 * 365 * 86400)] = 7 * 86400
    max_destruction_s: Annotated[int, Field(ge=1, le=100 * 365 * 86400)] = 30 * 86400
    # at destruction: "archive" (its results go, its record stays: ARCHIVED) or
    # "delete" (as DELETE does)
    on_destruction: Literal["archive", "delete"] = "archive"
    max_wait_s: Annotated[int, Field(ge=1, le=3600)] = 600  # the longest a WAIT blocks

    @model_validator(mode="after")
    def _consistent(self) -> UwsConfig:
        names = [n.lower() for n in self.parameters]
        taken = sorted(set(names) & UWS_CONTROL_PARAMETERS)
        if taken:
            raise ValueError(f"uws.parameters: {taken[0]!r} is a UWS control parameter")
        if len(set(names)) != len(names):
            raise ValueError("uws.parameters: two names differ only in case")
        if self.enabled and not self.command.strip():
            raise ValueError("uws.command: empty (the UWS job list is enabled)")
        used = set(UWS_PLACEHOLDER.findall(self.command))
        unknown = sorted(used - set(self.parameters))
        if unknown:
            raise ValueError(f"uws.command: {{{unknown[0]}}} is not in uws.parameters")
        if self.execution_duration_s > self.max_execution_duration_s:
            raise ValueError("uws.execution_duration_s: over max_execution_duration_s")
        if self.destruction_s > self.max_destruction_s:
            raise ValueError("uws.destruction_s: over max_destruction_s")
        return self


class AuditConfig(_Strict):
    """How long the audit trail keeps its entries (0: for ever), and how often the
    controller removes the older ones."""

    retain_days: Annotated[float, Field(ge=0, le=36500)] = 0
    prune_every_s: Annotated[float, Field(ge=1, le=86400)] = 3600.0


class RateLimitConfig(_Strict):
    """Per-user request rate limiting (services/rate_limit.py; Slurm's rl_enable):
    a user may send `bucket_size` requests at once, then `refill_per_s` a second.
    Administrators (root, the controller's user, `[roles] admins`) and agents are
    not limited."""

    enabled: bool = False
    bucket_size: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    refill_per_s: Annotated[float, Field(gt=0, le=1_000_000)] = 2.0


class Config(_Strict):
    state_dir: str
    controller: ControllerConfig = ControllerConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    partitions: list[PartitionConfig] = [PartitionConfig(name="main", default=True)]
    nodes: list[NodeConfig] = []
    sites: list[SiteConfig] = []
    accounts: list[AccountConfig] = []
    qos: list[QosConfig] = []
    limits: LimitsConfig = LimitsConfig()
    fairshare: FairshareConfig = FairshareConfig()
    accounting: AccountingConfig = AccountingConfig()
    agent: AgentConfig = AgentConfig()
    roles: RolesConfig = RolesConfig()
    auth: AuthConfig = AuthConfig()
    web: WebConfig = WebConfig()
    credentials: CredentialsConfig = CredentialsConfig()
    sandboxes: SandboxesConfig = SandboxesConfig()
    audit: AuditConfig = AuditConfig()
    uws: UwsConfig = UwsConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    # cluster-wide licenses: name -> how many (jobs ask with -L name[:count])
    licenses: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$",
                                        max_length=255)],
                   Annotated[int, Field(ge=1, le=2**31 - 1)]] = {}

    @property
    def socket_path(self) -> str:
        return self.controller.socket or str(Path(self.state_dir) / "corral.sock")

    @property
    def database_url(self) -> str:
        return self.controller.database or f"sqlite:///{Path(self.state_dir) / 'corral.db'}"

    @property
    def default_partition(self) -> PartitionConfig:
        for p in self.partitions:
            if p.default:
                return p
        return self.partitions[0]

    def partition(self, name: str) -> PartitionConfig | None:
        return next((p for p in self.partitions if p.name == name), None)

    def site(self, name: str) -> SiteConfig | None:
        return next((s for s in self.sites if s.name == name), None)


# Environment variables that override the file: name -> (section, key).
ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "CORRAL_SOCKET": ("controller", "socket"),
    "CORRAL_LISTEN": ("controller", "listen"),
    "CORRAL_TLS_CERT_FILE": ("controller", "tls_cert_file"),
    "CORRAL_TLS_KEY_FILE": ("controller", "tls_key_file"),
    "CORRAL_DATABASE_URL": ("controller", "database"),
    "CORRAL_CLUSTER_KEY": ("controller", "cluster_key"),
    "CORRAL_NODE_TIMEOUT_S": ("controller", "node_timeout_s"),
    "CORRAL_NODE_LEASE_S": ("controller", "node_lease_s"),
    "CORRAL_KILL_GRACE_S": ("controller", "kill_grace_s"),
    "CORRAL_LEADER_LEASE_S": ("controller", "leader_lease_s"),
    "CORRAL_ADVERTISE_URL": ("controller", "advertise_url"),
    "CORRAL_LOG_LEVEL": ("controller", "log_level"),
    "CORRAL_LOG_FORMAT": ("controller", "log_format"),
    "CORRAL_SCHEDULER_POLICY": ("scheduler", "policy"),
}


def default_state_dir() -> str:
    env = os.environ.get("CORRAL_STATE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(base) / "corral")


def config_path(state_dir: str) -> str:
    return os.environ.get("CORRAL_CONFIG") or str(Path(state_dir) / "corral.toml")


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"unknown key '{loc}'"
    value = first.get("input")
    return f"'{loc}': {first['msg']} (got {value!r})"


def load_config(state_dir: str | None = None) -> Config:
    """Read the TOML file (if present) and apply CORRAL_* overrides."""
    sd = state_dir or default_state_dir()
    path = config_path(sd)
    data: dict[str, Any] = {}
    if Path(path).exists():
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise InvalidRequest(f"config {path}: {e}") from None
    data.setdefault("state_dir", sd)
    for var, (section, key) in ENV_OVERRIDES.items():
        if var in os.environ:
            data.setdefault(section, {})[key] = os.environ[var]
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        raise InvalidRequest(f"config {path}: {_describe(e)}") from None
    if (cfg.controller.tls_cert_file is None) != (cfg.controller.tls_key_file is None):
        raise InvalidRequest(f"config {path}: controller.tls_cert_file and "
                             f"controller.tls_key_file go together (one is missing)")
    issuers = [i.issuer for i in cfg.auth.issuers]
    if len(set(issuers)) < len(issuers):
        raise InvalidRequest(f"config {path}: an issuer is listed twice in auth.issuers")
    relays = [r.name for r in cfg.auth.relays]
    if len(set(relays)) < len(relays):
        raise InvalidRequest(f"config {path}: a relay is listed twice in auth.relays")
    for r in cfg.auth.relays:
        if r.min_uid > r.max_uid:
            raise InvalidRequest(f"config {path}: auth.relays {r.name}: min_uid {r.min_uid} "
                                 f"is over max_uid {r.max_uid}")
    names = [p.name for p in cfg.partitions]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InvalidRequest(f"config {path}: partition {sorted(dup)[0]!r} is defined twice")
    sites = [site.name for site in cfg.sites]
    dup = {n for n in sites if sites.count(n) > 1}
    if dup:
        raise InvalidRequest(f"config {path}: site {sorted(dup)[0]!r} is defined twice")
    for site in cfg.sites:
        if site.deadline_margin_s >= site.pilot_wall_time_s:
            raise InvalidRequest(f"config {path}: sites {site.name}: deadline_margin_s "
                                 f"{site.deadline_margin_s} is not below pilot_wall_time_s "
                                 f"{site.pilot_wall_time_s}")
    return cfg


def default_config_text(node_name: str | None = None) -> str:
    """The file `corral up` writes on first start: one partition, this machine."""
    node = node_name or socket.gethostname().split(".")[0]
    return f"""# corral configuration (docs/configuration.md). Unknown keys are errors.

[controller]
# listen = "127.0.0.1:6817"   # also serve TCP (agents on other hosts)
# database = "postgresql+psycopg://corral@dbhost/corral"
node_timeout_s = 60
node_lease_s = 20   # jobs of a node cut off this long are killed there, then requeued
kill_grace_s = 5

[scheduler]
policy = "easy"

[[partitions]]
name = "main"
default = true
nodes = "ALL"
max_time_s = "7-00:00:00"
default_time_s = "1:00:00"

[[nodes]]
name = "{node}"
# cpus = 2        # default: what the machine has
# mem_mb = "8G"
# features = ["avx2"]
"""
