"""The audit table on SQLite and PostgreSQL: entries appended in one insert, queried
by user, uid, job, action and time, the newest `limit` oldest first; a job keeps who
cancelled it."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from corral.model.roles import Role
from corral.services.audit import entry_row, summarize
from corral.services.identity import Caller
from corral.store import audit as store_audit
from corral.store import jobs as store_jobs
from tests.store.conftest import make_job


def _row(user: str, uid: int, action: str, job_id: int | None, t: float,
         result: str = "ok") -> dict[str, object]:
    caller = Caller(uid=uid, user=user, gid=uid, role=Role.USER)
    return entry_row(caller=caller, uid=uid, origin="unix socket", action=action,
                     job_id=job_id, target="", request=summarize({"name": "x"}),
                     status=200 if result == "ok" else 403, result=result,
                     request_id="r1", t=t)


def test_entries_are_stored_and_queried(engine: Engine) -> None:
    rows = [_row("alice", 1001, "submit", 5, 100.0), _row("bob", 1002, "cancel", 5, 101.0,
                                                         "cancel job 5 of alice: needs operator"),
            _row("alice", 1001, "cancel", 5, 102.0), _row("alice", 1001, "hold", 6, 103.0)]
    with engine.begin() as conn:
        store_audit.append_entries(conn, rows)
    with engine.connect() as conn:
        def q(**kw: object) -> list[tuple[str, str, int | None]]:
            return [(e["user"], e["action"], e["job_id"])
                    for e in store_audit.query(conn, **kw)]  # type: ignore[arg-type]
        assert q() == [("alice", "submit", 5), ("bob", "cancel", 5), ("alice", "cancel", 5),
                       ("alice", "hold", 6)]
        assert q(users=["bob"]) == [("bob", "cancel", 5)]
        assert q(uid=1001, job_id=5) == [("alice", "submit", 5), ("alice", "cancel", 5)]
        assert q(actions=["cancel", "hold"], since=101.5) == [("alice", "cancel", 5),
                                                              ("alice", "hold", 6)]
        assert q(until=100.5) == [("alice", "submit", 5)]
        assert q(limit=2) == [("alice", "cancel", 5), ("alice", "hold", 6)]
        [refused] = store_audit.query(conn, users=["bob"])
        assert refused["result"] == "cancel job 5 of alice: needs operator"
        assert (refused["status"], refused["role"], refused["origin"]) == (
            403, "user", "unix socket")
        assert refused["request"] == {"name": "x"}


def test_a_summary_withholds_private_fields_and_cuts_long_values() -> None:
    s = summarize({"name": "n", "script": "#!/bin/sh\nsecret", "environment": {"K": "v"},
                   "argv": ["--token=x"], "working_dir": "/" + "d" * 500},
                  {"array": "true"})
    assert (s["script"], s["environment"], s["argv"]) == ("(withheld)",) * 3
    assert len(s["working_dir"]) == 201 and s["query"] == {"array": "true"}
    big = summarize({"name": "n", "nodelist": [f"node{i:04d}" for i in range(2000)],
                     "features": ["a" * 200] * 20})
    assert len(json.dumps(big)) < 3000


def test_a_job_keeps_who_cancelled_it(engine: Engine) -> None:
    job = make_job()
    job.cancelled_by_uid = 0
    with engine.begin() as conn:
        job.id = store_jobs.insert_job(conn, job)
    with engine.connect() as conn:
        loaded = store_jobs.get_job(conn, job.id)
    assert loaded is not None and loaded.cancelled_by_uid == 0


def test_prune_removes_only_the_entries_before_the_cutoff(engine: Engine) -> None:
    rows = [_row("alice", 1001, "submit", 5, 100.0), _row("bob", 1002, "cancel", 5, 199.9),
            _row("alice", 1001, "hold", 6, 200.0), _row("alice", 1001, "cancel", 6, 300.0)]
    with engine.begin() as conn:
        store_audit.append_entries(conn, rows)
        assert store_audit.prune(conn, before=200.0) == 2
        assert store_audit.prune(conn, before=200.0) == 0
    with engine.connect() as conn:
        assert [e["t"] for e in store_audit.query(conn)] == [200.0, 300.0]
