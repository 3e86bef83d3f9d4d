"""The CPU ids the scheduler chose for a job's run: jobs.cpu_ids, JSON
{node: [CPU id, ...]} (docs/resources.md, CPU binding).

Revision ID: 0022_cpu_ids
Revises: 0021_usage_sites
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022_cpu_ids"
down_revision = "0021_usage_sites"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("cpu_ids", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cpu_ids")
