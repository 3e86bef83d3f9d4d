"""Jobs that overlap a period, as the few columns the dashboard's plots read
(web/history.py): newest first, bounded."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, or_, select

from corral.store.schema import jobs

# (t_submit, t_start, t_end, cpus, account, uid)
Row = tuple[float, float | None, float | None, int, str | None, int]


def _cpus(spec_text: str) -> int:
    try:
        spec: dict[str, Any] = json.loads(spec_text)
        return int(spec.get("nodes", 1)) * int(spec.get("cpus_per_node", 1))
    except (ValueError, TypeError):
        return 1


def overlapping(conn: Connection, t0: float, t1: float, limit: int, *, cpus: bool = True
                ) -> tuple[list[Row], bool]:
    """Jobs submitted before t1 that had not ended by t0, the newest `limit` of them;
    and whether there were more. `cpus` False: not read (0), which spares parsing
    each job's spec."""
    cols = [jobs.c.t_submit, jobs.c.t_start, jobs.c.t_end, jobs.c.account, jobs.c.uid]
    q = (select(*cols, *([jobs.c.spec] if cpus else []))
         .where(jobs.c.t_submit < t1, or_(jobs.c.t_end.is_(None), jobs.c.t_end >= t0))
         .order_by(jobs.c.id.desc()).limit(limit + 1))
    rows = conn.execute(q).all()
    more = len(rows) > limit
    return [(r.t_submit, r.t_start, r.t_end, _cpus(r.spec) if cpus else 0, r.account, r.uid)
            for r in rows[:limit]], more
