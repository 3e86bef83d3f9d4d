"""Job credentials: users' sign-ins kept (sealed) to renew their jobs' access tokens.

Revision ID: 0015_credentials
Revises: 0014_usage
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_credentials"
down_revision = "0014_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  primary_key=True, autoincrement=True),
        sa.Column("user", sa.String(255), nullable=False),
        sa.Column("uid", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("token_endpoint", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=True),
        sa.Column("refresh_sealed", sa.Text(), nullable=False),
        sa.Column("access_sealed", sa.Text(), nullable=True),
        sa.Column("t_access_expires", sa.Double(), nullable=False, server_default="0"),
        sa.Column("access_lifetime_s", sa.Double(), nullable=False, server_default="0"),
        sa.Column("handle_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("t_created", sa.Double(), nullable=False),
        sa.Column("t_updated", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_credentials_uid", "credentials", ["uid"])


def downgrade() -> None:
    op.drop_index("ix_credentials_uid", table_name="credentials")
    op.drop_table("credentials")
