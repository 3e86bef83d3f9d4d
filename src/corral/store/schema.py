"""The tables (docs/specs/04-store.md §1). One MetaData, the same on SQLite and PostgreSQL.

The migrations under `migrations/versions/` create exactly these tables; a test
compares the migrated database with this module so the two never drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
)

# Deterministic constraint names, so migrations can refer to them on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# A 64-bit key on PostgreSQL; on SQLite only "INTEGER PRIMARY KEY" aliases the rowid.
BigKey = BigInteger().with_variant(Integer(), "sqlite")

jobs = Table(
    "jobs",
    metadata,
    # AUTOINCREMENT on SQLite: ids are never reused, even after the newest row is deleted.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user", String(255), nullable=False),
    Column("uid", Integer, nullable=False),
    Column("gid", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("reason", Text, nullable=False, server_default="None"),
    Column("intent", String(32), nullable=True),  # corral.model.intent; migration 0012
    Column("partition", String(255), nullable=False),
    Column("name", Text, nullable=False),
    Column("account", String(255), nullable=True),
    Column("time_limit_s", Integer, nullable=False),
    Column("mem_mb_per_node", Integer, nullable=True),
    Column("t_submit", Double, nullable=False),
    Column("t_start", Double, nullable=True),
    Column("t_end", Double, nullable=True),
    Column("node_list", Text, nullable=False, server_default=""),
    Column("exit_code", Integer, nullable=True),
    Column("signal", Integer, nullable=True),
    Column("cpu_time_s", Double, nullable=True),
    Column("max_rss_mb", Double, nullable=True),
    Column("energy_j", Double, nullable=True),  # migration 0018; NULL: not measured
    Column("restarts", Integer, nullable=False, server_default="0"),
    Column("retries", Integer, nullable=False, server_default="0"),  # migration 0003
    Column("deep_retries", Integer, nullable=False, server_default="0"),  # migration 0013
    Column("priority", Double, nullable=False, server_default="0"),
    Column("spec", Text, nullable=False),  # JSON of JobSpec.to_dict()
    Column("array_job_id", Integer, nullable=True),  # migration 0002
    Column("array_task_id", Integer, nullable=True),
    # JSON {node: [GPU device indices]} of the job's (last) run; migration 0005_h_sched
    Column("gpu_ids", Text, nullable=True),
    Column("cpu_ids", Text, nullable=True),  # JSON {node: [CPU id, ...]}; migration 0022
    # who cancelled the job, when someone did (migration 0008): sacct's "CANCELLED by"
    Column("cancelled_by_uid", Integer, nullable=True),
    Index("ix_jobs_state", "state"),
    Index("ix_jobs_user", "user"),
    Index("ix_jobs_array_job_id", "array_job_id"),
    Index("ix_jobs_t_end", "t_end"),  # migration 0014: sacct's time windows
    Index("ix_jobs_user_t_end", "user", "t_end"),
    sqlite_autoincrement=True,
)

# The pending rest of each job array (docs/specs/04-store.md §1): one row for the
# tasks not yet started, whose job ids (id .. id + tasks - 1) are reserved at submit.
# A task leaves the rest by getting its own `jobs` row; the row goes when none is left.
arrays = Table(
    "arrays",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("tasks", Integer, nullable=False),
    Column("user", String(255), nullable=False),
    Column("uid", Integer, nullable=False),
    Column("gid", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("reason", Text, nullable=False, server_default="None"),
    Column("intent", String(32), nullable=True),  # a hold's (migration 0012)
    Column("partition", String(255), nullable=False),
    Column("name", Text, nullable=False),
    Column("account", String(255), nullable=True),
    Column("time_limit_s", Integer, nullable=False),
    Column("mem_mb_per_node", Integer, nullable=True),
    Column("t_submit", Double, nullable=False),
    Column("t_end", Double, nullable=True),
    Column("priority", Double, nullable=False, server_default="0"),
    Column("spec", Text, nullable=False),  # JSON of JobSpec.to_dict()
    Index("ix_arrays_state", "state"),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigKey, primary_key=True, autoincrement=True),
    Column("job_id", Integer, ForeignKey("jobs.id"), nullable=True),
    Column("t", Double, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("from_state", String(32), nullable=True),
    Column("to_state", String(32), nullable=True),
    Column("data", Text, nullable=False, server_default="{}"),  # JSON object
    Index("ix_events_job_id", "job_id"),
    sqlite_autoincrement=True,
)

nodes = Table(
    "nodes",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("cpus", Integer, nullable=False),
    Column("mem_mb", Integer, nullable=False),
    Column("gpus", Integer, nullable=False, server_default="0"),
    Column("features", Text, nullable=False, server_default=""),  # comma separated
    Column("drain", Boolean, nullable=False, server_default=false()),
    Column("drain_reason", Text, nullable=False, server_default=""),
    Column("drain_by", String(32), nullable=False, server_default=""),  # migration 0003
    Column("t_last_seen", Double, nullable=False, server_default="0"),
    # the last agent process that registered for the node (migration 0007)
    Column("boot_id", String(64), nullable=False, server_default=""),
)

meta = Table(
    "meta",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
)

# A client's idempotency key -> the job its submission made (migration 0006): a retry
# with the same key by the same uid answers with that job instead of a new one.
submit_keys = Table(
    "submit_keys",
    metadata,
    Column("uid", Integer, nullable=False),
    Column("key", String(255), nullable=False),
    # the job's id; an array's id (its first task's): no foreign key, since an
    # array's tasks get their jobs rows only when they leave its rest
    Column("job_id", Integer, nullable=False),
    Column("tasks", Integer, nullable=False, server_default="1"),  # ids job_id…+tasks-1
    Column("digest", String(64), nullable=False),  # sha256 of the request
    Column("t", Double, nullable=False),
    PrimaryKeyConstraint("uid", "key"),
)

# The audit trail (migration 0008): every state-changing REST request, accepted or
# refused — who, from where, what, when, and the result (services/audit.py).
audit = Table(
    "audit",
    metadata,
    Column("seq", BigKey, primary_key=True, autoincrement=True),
    Column("t", Double, nullable=False),
    Column("user", String(255), nullable=False),
    Column("uid", Integer, nullable=True),  # None: no identity was established
    Column("role", String(32), nullable=False),
    Column("subject", Text, nullable=True),  # a token's subject and issuer
    Column("issuer", Text, nullable=True),
    Column("origin", String(255), nullable=False),  # "unix socket" or the peer's address
    Column("action", String(64), nullable=False),
    Column("job_id", Integer, nullable=True),
    Column("target", Text, nullable=False, server_default=""),  # a node, a reservation…
    Column("request", Text, nullable=False, server_default="{}"),  # JSON summary
    Column("status", Integer, nullable=False),  # the HTTP status answered
    Column("result", Text, nullable=False),  # "ok", or the refusal's message
    Column("request_id", String(128), nullable=True),
    Index("ix_audit_t", "t"),
    Index("ix_audit_user", "user"),
    Index("ix_audit_job_id", "job_id"),
    sqlite_autoincrement=True,
)

# Associations (migration 0011, corral.model.assoc): the account tree, the users and
# their associations with accounts, and the QOS defined at run time. Limits and QOS
# left NULL or empty are inherited from the level above.
accounts = Table(
    "accounts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("parent", String(64), nullable=True),  # NULL: root
    Column("shares", Integer, nullable=False, server_default="1"),
    Column("description", Text, nullable=False, server_default=""),
    Column("organization", Text, nullable=False, server_default=""),
    Column("max_jobs", Integer, nullable=True),
    Column("max_cpus", Integer, nullable=True),
    Column("max_gpus", Integer, nullable=True),
    Column("max_wall_s", Integer, nullable=True),
    Column("qos", Text, nullable=False, server_default=""),  # comma separated
    Column("default_qos", String(64), nullable=True),
)

assoc_users = Table(
    "assoc_users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("default_account", String(64), nullable=False),
)

associations = Table(
    "associations",
    metadata,
    Column("user", String(64), nullable=False),
    Column("account", String(64), nullable=False),
    Column("shares", Integer, nullable=False, server_default="1"),
    Column("max_jobs", Integer, nullable=True),
    Column("max_cpus", Integer, nullable=True),
    Column("max_gpus", Integer, nullable=True),
    Column("max_wall_s", Integer, nullable=True),
    Column("qos", Text, nullable=False, server_default=""),
    Column("default_qos", String(64), nullable=True),
    PrimaryKeyConstraint("user", "account"),
)

qos_defs = Table(
    "qos_defs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("max_wall_s", Integer, nullable=True),
    Column("max_jobs_per_user", Integer, nullable=True),
    Column("max_cpus_per_user", Integer, nullable=True),
)

# Usage accounting (migration 0014, docs/accounting.md): a record per finished job
# (step_id -1) and per srun step, written as the job ends (services/accounting.py);
# the hourly rollups the reports read; and the cluster's capacity, sampled.
usage_records = Table(
    "usage_records",
    metadata,
    Column("job_id", Integer, nullable=False),
    Column("step_id", Integer, nullable=False),  # -1: the job's whole allocation
    Column("user", String(255), nullable=False),
    Column("account", String(255), nullable=False),  # "": none named
    Column("partition", String(255), nullable=False),
    Column("state", String(32), nullable=False),
    Column("t_submit", Double, nullable=False),
    Column("t_start", Double, nullable=True),  # NULL: never ran
    Column("t_end", Double, nullable=False),
    Column("nodes", Integer, nullable=False),
    Column("cpus", Integer, nullable=False),
    Column("gpus", Integer, nullable=False),
    Column("mem_mb", Double, nullable=False),
    Column("cpu_s_alloc", Double, nullable=False),
    Column("cpu_s_used", Double, nullable=True),  # NULL: not measured
    Column("gpu_s", Double, nullable=False),
    Column("max_rss_mb", Double, nullable=True),
    Column("energy_j", Double, nullable=True),  # NULL: not known
    Column("wait_s", Double, nullable=True),
    Column("billing", Double, nullable=False),  # units per second
    Column("charge", Double, nullable=False),  # billing-seconds
    Column("exit_code", Integer, nullable=True),
    # each node's site in node order, comma-separated (migration 0021): the sites'
    # own fair-share is loaded from these at start-up
    Column("sites", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("job_id", "step_id"),
    Index("ix_usage_records_t_end", "t_end"),
    Index("ix_usage_records_user_t_end", "user", "t_end"),
)

# usage spread over the clock hours it accrued in; `jobs`: jobs that ended that hour
usage_hourly = Table(
    "usage_hourly",
    metadata,
    Column("hour", BigInteger, nullable=False),  # epoch seconds, a multiple of 3600
    Column("user", String(255), nullable=False),
    Column("account", String(255), nullable=False),
    Column("partition", String(255), nullable=False),
    Column("cpu_s_alloc", Double, nullable=False, server_default="0"),
    Column("cpu_s_used", Double, nullable=True),
    Column("gpu_s", Double, nullable=False, server_default="0"),
    Column("charge", Double, nullable=False, server_default="0"),
    Column("energy_j", Double, nullable=True),
    Column("jobs", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("hour", "user", "account", "partition"),
    Index("ix_usage_hourly_user", "user", "hour"),
)

# started jobs by the hour they ended, size (CPUs) and wait buckets (lower edges)
usage_jobs_hourly = Table(
    "usage_jobs_hourly",
    metadata,
    Column("hour", BigInteger, nullable=False),
    Column("account", String(255), nullable=False),
    Column("partition", String(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("wait_s", Integer, nullable=False),
    Column("jobs", Integer, nullable=False, server_default="0"),
    Column("cpu_s_alloc", Double, nullable=False, server_default="0"),
    Column("wait_s_sum", Double, nullable=False, server_default="0"),
    PrimaryKeyConstraint("hour", "account", "partition", "size", "wait_s"),
)

# the cluster's CPU-seconds per hour: all, on nodes down or drained, and idle in
# reservations (sampled by the controller as it runs)
cluster_hourly = Table(
    "cluster_hourly",
    metadata,
    Column("hour", BigInteger, primary_key=True, autoincrement=False),
    Column("cpu_s_total", Double, nullable=False, server_default="0"),
    Column("cpu_s_down", Double, nullable=False, server_default="0"),
    Column("cpu_s_reserved", Double, nullable=False, server_default="0"),
    # idle in a maintenance reservation (sreport's "PLND Down")
    Column("cpu_s_planned_down", Double, nullable=False, server_default="0"),
)

# Job credentials (services/credentials.py): a user's sign-in handed to the controller
# to renew the access tokens of the user's `--credential` jobs. The tokens are sealed
# (AES-256-GCM, services/sealing.py); `handle_hash` is the sha256 of the handle the
# handing client keeps to ask for its own access tokens.
credentials = Table(
    "credentials",
    metadata,
    Column("id", BigKey, primary_key=True, autoincrement=True),
    Column("user", String(255), nullable=False),
    Column("uid", Integer, nullable=False),
    Column("issuer", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("token_endpoint", Text, nullable=False),
    Column("resource", Text, nullable=True),
    Column("refresh_sealed", Text, nullable=False),
    Column("access_sealed", Text, nullable=True),
    Column("t_access_expires", Double, nullable=False, server_default="0"),
    Column("access_lifetime_s", Double, nullable=False, server_default="0"),
    Column("handle_hash", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # active | revoked | replaced
    Column("reason", Text, nullable=False, server_default=""),
    Column("t_created", Double, nullable=False),
    Column("t_updated", Double, nullable=False),
    Index("ix_credentials_uid", "uid"),
    sqlite_autoincrement=True,
)

# Controllers that take over (migration 0016, store/leader.py): the one row of the
# leader's lease, whose epoch every write checks, and the controllers that share
# the database (each one's latest heartbeat, by the database's clock).
leader = Table(
    "leader",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("epoch", BigInteger, nullable=False, server_default="0"),
    Column("holder", String(64), nullable=True),
    Column("address", Text, nullable=False, server_default=""),
    Column("lease_s", Double, nullable=False, server_default="0"),
    Column("t_renewed", Double, nullable=False, server_default="0"),
)

controllers = Table(
    "controllers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("address", Text, nullable=False, server_default=""),
    Column("host", String(255), nullable=False, server_default=""),
    Column("pid", Integer, nullable=False, server_default="0"),
    Column("role", String(16), nullable=False, server_default="follower"),
    Column("epoch", BigInteger, nullable=False, server_default="0"),
    Column("t_started", Double, nullable=False, server_default="0"),
    Column("t_heartbeat", Double, nullable=False, server_default="0"),
    # a follower: the newest event of the log it has applied (its lag, for status)
    Column("applied_seq", BigInteger, nullable=False, server_default="0"),
)

# IVOA UWS jobs (migration 0019, services/uws/): what the UWS job list holds of each
# job besides the corral job it runs as (job_id, set once it is asked to run).
uws_jobs = Table(
    "uws_jobs",
    metadata,
    Column("id", BigKey, primary_key=True, autoincrement=True),
    Column("user", String(255), nullable=False),
    Column("uid", Integer, nullable=False),
    Column("run_id", Text, nullable=True),
    Column("parameters", Text, nullable=False),  # JSON: name -> value
    Column("workdir", String(64), nullable=False),  # its directory's name
    Column("t_created", Double, nullable=False),
    Column("execution_duration_s", Integer, nullable=False),
    Column("t_destruction", Double, nullable=True),
    Column("job_id", Integer, nullable=True),
    Column("t_aborted", Double, nullable=True),  # aborted before it ran
    Column("t_archived", Double, nullable=True),
    Index("ix_uws_jobs_uid", "uid"),
    sqlite_autoincrement=True,
)
