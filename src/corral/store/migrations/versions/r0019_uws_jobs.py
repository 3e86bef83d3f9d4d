"""IVOA UWS jobs: one row each, beside the corral job it runs as.

Revision ID: 0019_uws_jobs
Revises: 0018_energy
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_uws_jobs"
down_revision = "0018_energy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uws_jobs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=True),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("workdir", sa.String(64), nullable=False),
        sa.Column("t_created", sa.Double(), nullable=False),
        sa.Column("execution_duration_s", sa.Integer(), nullable=False),
        sa.Column("t_destruction", sa.Double(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("t_aborted", sa.Double(), nullable=True),
        sa.Column("t_archived", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_uws_jobs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_uws_jobs_uid", "uws_jobs", ["uid"])


def downgrade() -> None:
    op.drop_index("ix_uws_jobs_uid", table_name="uws_jobs")
    op.drop_table("uws_jobs")
