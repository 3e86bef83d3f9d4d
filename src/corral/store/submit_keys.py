"""Idempotency keys of submissions: (uid, key) -> the job or array it made, in the
caller's transaction (docs/specs/04-store.md §1)."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select

from corral.model.arrays import task_job_id
from corral.store.dialect import insert_new
from corral.store.schema import submit_keys


def record_key(conn: Connection, uid: int, key: str, job_id: int, tasks: int, digest: str,
               t: float) -> bool:
    """Remember that (uid, key) made the jobs job_id … job_id + tasks - 1 (an array:
    its id and its number of tasks). False, and nothing written, when the key is
    taken already."""
    values = {"uid": uid, "key": key, "job_id": job_id, "tasks": tasks, "digest": digest,
              "t": t}
    return insert_new(conn, submit_keys, values, keys=["uid", "key"])


# built once: a submit looks its key up on every request
_LOOKUP = select(submit_keys.c.job_id, submit_keys.c.tasks, submit_keys.c.digest).where(
    submit_keys.c.uid == bindparam("l_uid"), submit_keys.c.key == bindparam("l_key"))


def lookup_key(conn: Connection, uid: int, key: str) -> tuple[str, list[int]] | None:
    """The digest and the job ids (every task of an array) that (uid, key) made."""
    row = conn.execute(_LOOKUP, {"l_uid": uid, "l_key": key}).first()
    if row is None:
        return None
    first, n = int(row.job_id), int(row.tasks)
    return str(row.digest), [task_job_id(first, n, i) for i in range(n)] if n > 1 else [first]
