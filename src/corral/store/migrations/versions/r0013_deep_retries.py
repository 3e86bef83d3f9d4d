"""The retries a job had after failures of its own (non-zero exit, signal), which
its retry_count (JDL's RetryCount) limits, apart from the automatic requeues after
failures of the infrastructure (`retries`).

Revision ID: 0013_deep_retries
Revises: 0012_intent
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_deep_retries"
down_revision = "0012_intent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("deep_retries", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("deep_retries")
