"""Every table: jobs, events, nodes, meta.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written by hand for both SQLite and PostgreSQL; frozen (it does not import
corral.store.schema, which may move on). tests/store checks that the migrated
database matches the schema module.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIG_KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("gid", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default="None"),
        sa.Column("partition", sa.String(255), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("account", sa.String(255), nullable=True),
        sa.Column("time_limit_s", sa.Integer(), nullable=False),
        sa.Column("mem_mb_per_node", sa.Integer(), nullable=True),
        sa.Column("t_submit", sa.Double(), nullable=False),
        sa.Column("t_start", sa.Double(), nullable=True),
        sa.Column("t_end", sa.Double(), nullable=True),
        sa.Column("node_list", sa.Text(), nullable=False, server_default=""),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("signal", sa.Integer(), nullable=True),
        sa.Column("cpu_time_s", sa.Double(), nullable=True),
        sa.Column("max_rss_mb", sa.Double(), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("priority", sa.Double(), nullable=False, server_default="0"),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_state", "jobs", ["state"])
    op.create_index("ix_jobs_user", "jobs", ["user"])

    op.create_table(
        "events",
        sa.Column("seq", _BIG_KEY, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("t", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("to_state", sa.String(32), nullable=True),
        sa.Column("data", sa.Text(), nullable=False, server_default="{}"),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_events_job_id_jobs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_job_id", "events", ["job_id"])

    op.create_table(
        "nodes",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("mem_mb", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("features", sa.Text(), nullable=False, server_default=""),
        sa.Column("drain", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("drain_reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("t_last_seen", sa.Double(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("name", name="pk_nodes"),
    )

    op.create_table(
        "meta",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("nodes")
    op.drop_index("ix_events_job_id", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_jobs_user", table_name="jobs")
    op.drop_index("ix_jobs_state", table_name="jobs")
    op.drop_table("jobs")
