"""The UWS jobs' table (services/uws/): one row a UWS job, read and written in the
controller's store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from corral.store.schema import uws_jobs


@dataclass(frozen=True, slots=True)
class Upload:
    """A file-valued parameter's file, as uploaded (kept in the sandbox store)."""

    sha256: str
    filename: str  # the client's name for it (shown, never used as a path)
    size_bytes: int


@dataclass(frozen=True, slots=True)
class UwsRecord:
    id: int
    user: str
    uid: int
    run_id: str | None
    parameters: Mapping[str, str]
    workdir: str  # the name of its directory inside uws.working_dir
    t_created: float
    execution_duration_s: int
    t_destruction: float | None
    job_id: int | None  # the corral job, once it was asked to run
    t_aborted: float | None  # aborted before it ran
    t_archived: float | None
    uploads: Mapping[str, Upload] = field(default_factory=dict)  # file parameters


def _encode(parameters: Mapping[str, str], uploads: Mapping[str, Upload]) -> str:
    """The parameters column: name -> value, or for a file parameter name -> its file."""
    out: dict[str, Any] = dict(parameters)
    out.update({k: {"sha256": u.sha256, "filename": u.filename, "size": u.size_bytes}
                for k, u in uploads.items()})
    return json.dumps(out, sort_keys=True)


def _decode(text: str) -> tuple[dict[str, str], dict[str, Upload]]:
    params: dict[str, str] = {}
    uploads: dict[str, Upload] = {}
    for k, v in json.loads(text).items():
        if isinstance(v, dict):
            uploads[k] = Upload(str(v["sha256"]), str(v["filename"]), int(v["size"]))
        else:
            params[k] = str(v)
    return params, uploads


def _record(row: RowMapping) -> UwsRecord:
    params, uploads = _decode(row["parameters"])
    return UwsRecord(
        id=int(row["id"]), user=str(row["user"]), uid=int(row["uid"]), run_id=row["run_id"],
        parameters=params, uploads=uploads, workdir=str(row["workdir"]),
        t_created=float(row["t_created"]),
        execution_duration_s=int(row["execution_duration_s"]),
        t_destruction=row["t_destruction"], job_id=row["job_id"], t_aborted=row["t_aborted"],
        t_archived=row["t_archived"])


def add(conn: Connection, *, user: str, uid: int, run_id: str | None,
        parameters: Mapping[str, str], workdir: str, t_created: float,
        execution_duration_s: int, t_destruction: float | None,
        uploads: Mapping[str, Upload] | None = None) -> int:
    """A new UWS job -> its id."""
    values = {"user": user, "uid": uid, "run_id": run_id,
              "parameters": _encode(parameters, uploads or {}),
              "workdir": workdir, "t_created": t_created,
              "execution_duration_s": execution_duration_s, "t_destruction": t_destruction}
    return int(conn.execute(insert(uws_jobs).returning(uws_jobs.c.id), values).scalar_one())


def get(conn: Connection, uws_id: int) -> UwsRecord | None:
    row = conn.execute(select(uws_jobs).where(uws_jobs.c.id == uws_id)).mappings().first()
    return _record(row) if row is not None else None


def listed(conn: Connection, *, uid: int | None, t_created_after: float | None = None
           ) -> list[UwsRecord]:
    """The UWS jobs (of `uid`; None: everyone's), the newest first."""
    q = select(uws_jobs)
    if uid is not None:
        q = q.where(uws_jobs.c.uid == uid)
    if t_created_after is not None:
        q = q.where(uws_jobs.c.t_created > t_created_after)
    rows = conn.execute(q.order_by(uws_jobs.c.t_created.desc(), uws_jobs.c.id.desc()))
    return [_record(r) for r in rows.mappings().all()]


def due(conn: Connection, now: float, limit: int) -> list[UwsRecord]:
    """Jobs whose destruction time has come and that are not archived yet."""
    q = (select(uws_jobs).where(uws_jobs.c.t_destruction <= now,
                                uws_jobs.c.t_archived.is_(None))
         .order_by(uws_jobs.c.t_destruction).limit(limit))
    return [_record(r) for r in conn.execute(q).mappings().all()]


def change(conn: Connection, uws_id: int, **values: Any) -> None:
    """Change columns; `parameters` (with `uploads`: the file parameters) replaces
    them all."""
    if "parameters" in values:
        values["parameters"] = _encode(values["parameters"], values.pop("uploads", {}))
    conn.execute(update(uws_jobs).where(uws_jobs.c.id == uws_id).values(**values))


def remove(conn: Connection, uws_id: int) -> None:
    conn.execute(delete(uws_jobs).where(uws_jobs.c.id == uws_id))
