"""Small key/value facts about the installation (cluster name, format markers…)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from corral.store.dialect import upsert
from corral.store.schema import meta


def get_meta(conn: Connection, key: str, default: str | None = None) -> str | None:
    value = conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()
    return default if value is None else str(value)


def set_meta(conn: Connection, key: str, value: str) -> None:
    upsert(conn, meta, {"key": key, "value": value}, keys=["key"])
