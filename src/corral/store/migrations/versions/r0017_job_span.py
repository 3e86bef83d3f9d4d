"""The longest a job has taken from submit to end (meta `max_job_span_s`), which
bounds sacct's window on the jobs' t_end index from above (store/jobs.query_jobs):
set here from the jobs that ended, kept up as jobs end (store/usage.py).

Revision ID: 0017_job_span
Revises: 0016_leader
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0017_job_span"
down_revision = "0016_leader"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'max_job_span_s'")
    op.execute("INSERT INTO meta (key, value) SELECT 'max_job_span_s', "
               "CAST(max(t_end - t_submit) AS TEXT) FROM jobs "
               "WHERE t_end IS NOT NULL HAVING count(*) > 0")


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE key = 'max_job_span_s'")
