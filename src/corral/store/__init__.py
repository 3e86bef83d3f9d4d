"""corral.store: persistence on SQLAlchemy Core connections (docs/specs/04-store.md).

    from corral.store import make_engine, migrate, insert_job
    engine = make_engine("sqlite:////var/lib/corral/corral.db"); migrate(engine)
    with engine.begin() as conn:
        job_id = insert_job(conn, job)
"""

from corral.store.db import (
    alembic_config,
    current_revision,
    engine_schema,
    make_engine,
    migrate,
    reading,
)
from corral.store.events import (
    STATE_KINDS,
    append_event,
    events_since,
    job_events,
    last_seq,
    replay_states,
)
from corral.store.jobs import get_job, insert_job, insert_jobs, load_jobs, query_jobs, save_job
from corral.store.meta import get_meta, set_meta
from corral.store.nodes import delete_node, load_nodes, upsert_node

__all__ = [
    "STATE_KINDS",
    "alembic_config",
    "append_event",
    "current_revision",
    "delete_node",
    "engine_schema",
    "events_since",
    "get_job",
    "get_meta",
    "insert_job",
    "insert_jobs",
    "job_events",
    "last_seq",
    "load_jobs",
    "load_nodes",
    "make_engine",
    "migrate",
    "query_jobs",
    "reading",
    "replay_states",
    "save_job",
    "set_meta",
    "upsert_node",
]
