"""Job arrays: one row for the pending rest of each array.

Revision ID: 0004_h_arrays
Revises: 0003_h_health
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_h_arrays"
down_revision = "0003_h_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arrays",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
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
        sa.Column("t_end", sa.Double(), nullable=True),
        sa.Column("priority", sa.Double(), nullable=False, server_default="0"),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_arrays"),
    )
    op.create_index("ix_arrays_state", "arrays", ["state"])


def downgrade() -> None:
    op.drop_index("ix_arrays_state", table_name="arrays")
    op.drop_table("arrays")
