"""GPU device indices of a job's run: jobs.gpu_ids, JSON {node: [index, ...]}.

Revision ID: 0005_h_sched
Revises: 0004_h_arrays
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_h_sched"
down_revision = "0004_h_arrays"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("gpu_ids", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("gpu_ids")
