"""Controllers that take over: the leader's lease (one row, with its epoch) and the
controllers that share the database (docs/deployment.md).

Revision ID: 0016_leader
Revises: 0015_credentials
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_leader"
down_revision = "0015_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    leader = op.create_table(
        "leader",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("address", sa.Text(), nullable=False, server_default=""),
        sa.Column("lease_s", sa.Double(), nullable=False, server_default="0"),
        sa.Column("t_renewed", sa.Double(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_leader"),
    )
    op.bulk_insert(leader, [{"id": 1, "epoch": 0, "holder": None, "address": "",
                             "lease_s": 0.0, "t_renewed": 0.0}])
    op.create_table(
        "controllers",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("address", sa.Text(), nullable=False, server_default=""),
        sa.Column("host", sa.String(255), nullable=False, server_default=""),
        sa.Column("pid", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("role", sa.String(16), nullable=False, server_default="follower"),
        sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("t_started", sa.Double(), nullable=False, server_default="0"),
        sa.Column("t_heartbeat", sa.Double(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_controllers"),
    )


def downgrade() -> None:
    op.drop_table("controllers")
    op.drop_table("leader")
