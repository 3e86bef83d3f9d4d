"""Each node's last registered agent process, so that a restarted controller knows
an agent that lived through its restart from a new one.

Revision ID: 0007_boot_ids
Revises: 0006_h_privacy
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_boot_ids"
down_revision = "0006_h_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("boot_id", sa.String(64), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("boot_id")
