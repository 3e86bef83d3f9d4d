"""Automatic requeues counted per job; who drained a node.

Revision ID: 0003_h_health
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_h_health"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("retries", sa.Integer(), nullable=False,
                                   server_default="0"))
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("drain_by", sa.String(32), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("drain_by")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("retries")
