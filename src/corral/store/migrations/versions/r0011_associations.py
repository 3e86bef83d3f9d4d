"""Associations: the account tree, users and their associations with accounts, and
the QOS defined at run time (sacctmgr, corral account, /v1/accounts).

Revision ID: 0011_associations
Revises: 0008_audit
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_associations"
down_revision = "0008_audit"
branch_labels = None
depends_on = None


def _limits() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.Integer(), nullable=True)
            for name in ("max_jobs", "max_cpus", "max_gpus", "max_wall_s")]


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("parent", sa.String(64), nullable=True),
        sa.Column("shares", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("organization", sa.Text(), nullable=False, server_default=""),
        *_limits(),
        sa.Column("qos", sa.Text(), nullable=False, server_default=""),
        sa.Column("default_qos", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_accounts"),
    )
    op.create_table(
        "assoc_users",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("default_account", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_assoc_users"),
    )
    op.create_table(
        "associations",
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("shares", sa.Integer(), nullable=False, server_default="1"),
        *_limits(),
        sa.Column("qos", sa.Text(), nullable=False, server_default=""),
        sa.Column("default_qos", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("user", "account", name="pk_associations"),
    )
    op.create_table(
        "qos_defs",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("priority", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("max_wall_s", sa.Integer(), nullable=True),
        sa.Column("max_jobs_per_user", sa.Integer(), nullable=True),
        sa.Column("max_cpus_per_user", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_qos_defs"),
    )


def downgrade() -> None:
    for table in ("qos_defs", "associations", "assoc_users", "accounts"):
        op.drop_table(table)
