"""Usage accounting: a record per finished job and step, hourly rollups for the
reports, the cluster's sampled capacity, and indexes for sacct's time windows
(docs/accounting.md).

Revision ID: 0014_usage
Revises: 0013_deep_retries
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_usage"
down_revision = "0013_deep_retries"
branch_labels = None
depends_on = None


def _d(name: str, nullable: bool = False, default: str | None = None) -> sa.Column[float]:
    return sa.Column(name, sa.Double(), nullable=nullable, server_default=default)


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("partition", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        _d("t_submit"), _d("t_start", True), _d("t_end"),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        _d("mem_mb"), _d("cpu_s_alloc"), _d("cpu_s_used", True), _d("gpu_s"),
        _d("max_rss_mb", True), _d("energy_j", True), _d("wait_s", True),
        _d("billing"), _d("charge"),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", "step_id", name="pk_usage_records"),
    )
    op.create_index("ix_usage_records_t_end", "usage_records", ["t_end"])
    op.create_index("ix_usage_records_user_t_end", "usage_records", ["user", "t_end"])
    op.create_table(
        "usage_hourly",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("partition", sa.String(255), nullable=False),
        _d("cpu_s_alloc", default="0"), _d("cpu_s_used", True), _d("gpu_s", default="0"),
        _d("charge", default="0"), _d("energy_j", True),
        sa.Column("jobs", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("hour", "user", "account", "partition",
                                name="pk_usage_hourly"),
    )
    op.create_index("ix_usage_hourly_user", "usage_hourly", ["user", "hour"])
    op.create_table(
        "usage_jobs_hourly",
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("account", sa.String(255), nullable=False),
        sa.Column("partition", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("wait_s", sa.Integer(), nullable=False),
        sa.Column("jobs", sa.Integer(), nullable=False, server_default="0"),
        _d("cpu_s_alloc", default="0"), _d("wait_s_sum", default="0"),
        sa.PrimaryKeyConstraint("hour", "account", "partition", "size", "wait_s",
                                name="pk_usage_jobs_hourly"),
    )
    op.create_table(
        "cluster_hourly",
        sa.Column("hour", sa.BigInteger(), nullable=False, autoincrement=False),
        _d("cpu_s_total", default="0"), _d("cpu_s_down", default="0"),
        _d("cpu_s_reserved", default="0"), _d("cpu_s_planned_down", default="0"),
        sa.PrimaryKeyConstraint("hour", name="pk_cluster_hourly"),
    )
    op.create_index("ix_jobs_t_end", "jobs", ["t_end"])
    op.create_index("ix_jobs_user_t_end", "jobs", ["user", "t_end"])


def downgrade() -> None:
    op.drop_index("ix_jobs_user_t_end", "jobs")
    op.drop_index("ix_jobs_t_end", "jobs")
    for table in ("cluster_hourly", "usage_jobs_hourly", "usage_hourly", "usage_records"):
        op.drop_table(table)
