"""The job credentials' table on SQLite and PostgreSQL: a rotation replaces both
tokens in one statement only when the refresh token is still the one the renewal
started from; ended credentials are not loaded."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from corral.store import credentials as store


def _row(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "user": "alice", "uid": 4242, "issuer": "https://idp", "subject": "alice",
        "client_id": "corral-cli", "token_endpoint": "https://idp/token", "resource": None,
        "refresh_sealed": "v1.rt-0", "access_sealed": "v1.at-0", "t_access_expires": 10.0,
        "access_lifetime_s": 10.0, "handle_hash": "h" * 64, "state": "active",
        "reason": "", "t_created": 1.0, "t_updated": 1.0}
    row.update(kw)
    return row


def test_rotation_is_compare_and_set(engine: Engine) -> None:
    with engine.begin() as conn:
        cid = store.add(conn, _row())
        other = store.add(conn, _row(user="bob", uid=7, subject="bob"))
        assert cid != other
        new = {"refresh_sealed": "v1.rt-1", "access_sealed": "v1.at-1",
               "t_access_expires": 20.0, "t_updated": 2.0}
        assert store.rotate(conn, cid, "v1.rt-0", new)
        # a renewal that started from the spent token changes nothing
        assert not store.rotate(conn, cid, "v1.rt-0", {**new, "refresh_sealed": "v1.rt-x"})
        got = store.get(conn, cid)
        assert got is not None
        assert (got["refresh_sealed"], got["access_sealed"], got["t_access_expires"]) == (
            "v1.rt-1", "v1.at-1", 20.0)
        store.set_state(conn, other, "revoked", "by root", 3.0)
    with engine.connect() as conn:
        assert [r["id"] for r in store.load(conn)] == [cid]
        assert [r["state"] for r in store.load(conn, states=("revoked",))] == ["revoked"]
