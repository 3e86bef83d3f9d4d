"""The job table of `corral jobs`, without click: the full command line and the
entry point's fast path (corral.cli.entry) print the same text."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from corral.model.states import FINAL_JOB_STATES
from corral.model.units import format_clock_s

STATE_CODES = {
    "PENDING": "PD", "HELD": "PD", "RUNNING": "R", "SUSPENDED": "S", "COMPLETING": "CG",
    "COMPLETED": "CD", "FAILED": "F", "CANCELLED": "CA", "TIMEOUT": "TO",
    "OUT_OF_MEMORY": "OOM", "NODE_FAIL": "NF", "PREEMPTED": "PR",
}
_FINAL = frozenset(str(s) for s in FINAL_JOB_STATES)
HEADERS = ("JOBID", "PARTITION", "NAME", "USER", "ST", "TIME", "NODES")
LONG_HEADERS = ("PRIORITY", "TIME_LIMIT", "EXPECTED_START")


def table_text(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns two spaces apart, trailing blanks dropped."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), max(map(len, column), default=0))
              for h, column in zip(headers, zip(*cells, strict=True) if cells
                                   else [()] * len(headers), strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip()]
    lines += [fmt.format(*r).rstrip() for r in cells]
    return "\n".join(lines)


def elapsed(job: Any, now: float | None = None) -> float | None:
    if job.get("t_start") is None:
        return None
    end = job.get("t_end") or (time.time() if now is None else now)
    return float(end - job["t_start"])


def when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def job_table(found: Iterable[Any], *, long_format: bool, show_final: bool) -> str:
    """The table of these jobs (the API's brief view), the finished ones only if
    `show_final`."""
    now = time.time()
    clock = format_clock_s
    codes = STATE_CODES
    rows = []
    for j in found:
        state = j["state"]
        final = state in _FINAL
        if final and not show_final:
            continue
        if final:
            where = ",".join(j["node_list"]) or "-"
        else:
            where = ",".join(j["node_list"]) if j["node_list"] else f"({j['reason']})"
        row = [j.get("display_id", j["id"]), j["partition"], j["name"][:20], j["user"],
               codes.get(state, state), clock(elapsed(j, now)), j["nodes"]]
        if long_format:
            row += [f"{j['priority']:.4f}",
                    clock(j["time_limit_s"]) if j["time_limit_s"] else "UNLIMITED",
                    when(j.get("t_expected_start")) if state == "PENDING" else "-"]
        row.append(where)
        rows.append(row)
    headers = [*HEADERS, *(LONG_HEADERS if long_format else ()), "NODELIST(REASON)"]
    return table_text(headers, rows)
