"""Human tables and JSON for the read commands."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import click

from corral.model.units import format_clock_s

STATE_CODES = {
    "PENDING": "PD", "HELD": "PD", "RUNNING": "R", "SUSPENDED": "S", "COMPLETING": "CG",
    "COMPLETED": "CD", "FAILED": "F", "CANCELLED": "CA", "TIMEOUT": "TO",
    "OUT_OF_MEMORY": "OOM", "NODE_FAIL": "NF", "PREEMPTED": "PR",
}


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in cells:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    click.echo(fmt.format(*headers).rstrip())
    for r in cells:
        click.echo(fmt.format(*r).rstrip())


clock = format_clock_s


def elapsed(job: dict[str, Any]) -> float | None:
    if job.get("t_start") is None:
        return None
    end = job.get("t_end") or time.time()
    return float(end - job["t_start"])


def when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def job_ids(values: tuple[str, ...], *, skip_empty: bool = False) -> list[int]:
    """Job ids from arguments that may hold comma lists; a bad one is a usage error."""
    out = []
    for v in values:
        for part in v.split(","):
            if not part and skip_empty:
                continue
            try:
                out.append(int(part))
            except ValueError:
                raise click.BadParameter(f"{part!r} is not a job id", param_hint="JOB") from None
    return out
