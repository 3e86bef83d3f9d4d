"""Job arrays: each task's array id and task id.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("array_job_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("array_task_id", sa.Integer(), nullable=True))
    op.create_index("ix_jobs_array_job_id", "jobs", ["array_job_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_array_job_id", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("array_task_id")
        batch.drop_column("array_job_id")
