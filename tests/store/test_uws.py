"""The UWS jobs' table (store/uws.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine

from corral.store import uws


def add(conn: Connection, uid: int, t: float, **kw: Any) -> int:
    values: dict[str, Any] = {
        "user": f"u{uid}", "uid": uid, "run_id": None,
        "parameters": {"ra": "10.5", "note": "é ' \" <&>"}, "workdir": "uws-0123456789abcdef",
        "t_created": t, "execution_duration_s": 600, "t_destruction": t + 100.0}
    values.update(kw)
    return uws.add(conn, **values)


def test_records_round_trip_list_newest_first_and_change(engine: Engine) -> None:
    with engine.begin() as conn:
        a = add(conn, 1000, 1_700_000_000.125, run_id="r1")
        b = add(conn, 1000, 1_700_000_001.5)
        c = add(conn, 1001, 1_700_000_002.0)
    with engine.connect() as conn:
        rec = uws.get(conn, a)
        assert rec is not None and rec.run_id == "r1" and rec.job_id is None
        assert rec.parameters == {"ra": "10.5", "note": "é ' \" <&>"}
        assert rec.t_created == 1_700_000_000.125 and rec.t_destruction == 1_700_000_100.125
        assert [r.id for r in uws.listed(conn, uid=1000)] == [b, a]
        assert [r.id for r in uws.listed(conn, uid=None)] == [c, b, a]
        assert [r.id for r in uws.listed(conn, uid=None,
                                         t_created_after=1_700_000_001.5)] == [c]
        assert uws.get(conn, 999_999) is None
    with engine.begin() as conn:
        uws.change(conn, a, job_id=42, parameters={"ra": "11"})
        uws.change(conn, b, t_archived=5.0)
        uws.remove(conn, c)
    with engine.connect() as conn:
        rec = uws.get(conn, a)
        assert rec is not None and rec.job_id == 42 and rec.parameters == {"ra": "11"}
        assert uws.get(conn, c) is None
        # due: destruction time passed and not archived yet (b is archived)
        assert [r.id for r in uws.due(conn, 1_700_000_200.0, 10)] == [a]
        assert uws.due(conn, 1_700_000_000.0, 10) == []


def test_file_parameters_round_trip_beside_the_values(engine: Engine) -> None:
    f = uws.Upload("cd" * 32, "cat.csv", 17)
    with engine.begin() as conn:
        a = add(conn, 1000, 1_700_000_000.0, uploads={"table": f})
    with engine.connect() as conn:
        rec = uws.get(conn, a)
        assert rec is not None and rec.uploads == {"table": f}
        assert rec.parameters == {"ra": "10.5", "note": "é ' \" <&>"}
    g = uws.Upload("ef" * 32, "other.csv", 3)
    with engine.begin() as conn:
        uws.change(conn, a, parameters={"ra": "1"}, uploads={"table": g})
    with engine.connect() as conn:
        rec = uws.get(conn, a)
        assert rec is not None and rec.uploads == {"table": g} and rec.parameters == {"ra": "1"}
