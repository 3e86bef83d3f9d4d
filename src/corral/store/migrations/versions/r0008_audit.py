"""The audit trail, and who cancelled each job.

Revision ID: 0008_audit
Revises: 0007_boot_ids
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_audit"
down_revision = "0007_boot_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("t", sa.Double(), nullable=False),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.Text(), nullable=False, server_default=""),
        sa.Column("request", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.PrimaryKeyConstraint("seq", name="pk_audit"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_t", "audit", ["t"])
    op.create_index("ix_audit_user", "audit", ["user"])
    op.create_index("ix_audit_job_id", "audit", ["job_id"])
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("cancelled_by_uid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cancelled_by_uid")
    op.drop_index("ix_audit_job_id", table_name="audit")
    op.drop_index("ix_audit_user", table_name="audit")
    op.drop_index("ix_audit_t", table_name="audit")
    op.drop_table("audit")
