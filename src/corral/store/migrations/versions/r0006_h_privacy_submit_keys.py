"""Idempotent submission: each (uid, idempotency key) and the job or array it made.

Revision ID: 0006_h_privacy
Revises: 0005_h_sched
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_h_privacy"
down_revision = "0005_h_sched"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "submit_keys",
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("t", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("uid", "key", name="pk_submit_keys"),
    )


def downgrade() -> None:
    op.drop_table("submit_keys")
