"""Why a job's run is being stopped, or who holds it (corral.model.intent), so that
a restarted controller ends or requeues a run as it was asked to.

Revision ID: 0012_intent
Revises: 0011_associations
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_intent"
down_revision = "0011_associations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("jobs", "arrays"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("intent", sa.String(32), nullable=True))
    # the holds of the jobs already held, which only their reason said until now
    for table in ("jobs", "arrays"):
        op.execute(f"UPDATE {table} SET intent = 'hold_admin' "
                   f"WHERE state = 'HELD' AND reason = 'JobHeldAdmin'")
        op.execute(f"UPDATE {table} SET intent = 'hold_scheduler' "
                   f"WHERE state = 'HELD' AND reason LIKE 'SchedulingFailed%'")
        op.execute(f"UPDATE {table} SET intent = 'hold_user' "
                   f"WHERE state = 'HELD' AND intent IS NULL")
    # runs being stopped
    for reason, intent in (("Cancelled", "cancel"), ("Ended", "allocation_ended"),
                           ("Requeue", "requeue"), ("RequeueHold", "requeue_hold"),
                           ("PreemptRequeue", "preempt_requeue"),
                           ("Preempted", "preempt_cancel"),
                           ("PrologFailed", "prolog_failed_elsewhere")):
        op.execute(f"UPDATE jobs SET intent = '{intent}' WHERE reason = '{reason}' "
                   "AND state IN ('RUNNING', 'SUSPENDED', 'COMPLETING')")


def downgrade() -> None:
    for table in ("jobs", "arrays"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("intent")
