"""The energy a job's nodes used over its run (jobs.energy_j; NULL: not measured).

Revision ID: 0018_energy
Revises: 0017_job_span
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_energy"
down_revision = "0017_job_span"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("energy_j", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("energy_j")
