"""Each usage record keeps its nodes' sites (usage_records.sites), from which a
controller starting up loads the sites' own fair-share (docs/accounting.md,
"Fair-share per site").

Revision ID: 0021_usage_sites
Revises: 0020_follower_lag
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_usage_sites"
down_revision = "0020_follower_lag"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("sites", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("sites")
