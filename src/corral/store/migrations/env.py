"""Alembic environment for corral's store; run through corral.store.db.migrate().

The caller passes an open Connection in `config.attributes["connection"]` (its
transaction is the migration's transaction). Run by the `alembic` command line
instead, the URL comes from `sqlalchemy.url` and the engine from make_engine().
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from corral.store.db import make_engine
from corral.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url configured")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("corral migrations run online only (corral.store.db.migrate)")
run_migrations_online()
