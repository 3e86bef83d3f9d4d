"""How far each follower has applied the event log (controllers.applied_seq), for
the lag `corral status` shows (docs/deployment.md, "Follower reads").

Revision ID: 0020_follower_lag
Revises: 0019_uws_jobs
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_follower_lag"
down_revision = "0019_uws_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("controllers") as batch:
        batch.add_column(sa.Column("applied_seq", sa.BigInteger(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("controllers") as batch:
        batch.drop_column("applied_seq")
