"""Human tables and JSON for the read commands."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import click

from corral.client import Client
from corral.model.errors import InvalidRequest
from corral.model.jobid import JobRef, parse_job_refs
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
    widths = [max(len(h), max((len(r[i]) for r in cells), default=0))
              for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip()]
    lines += [fmt.format(*r).rstrip() for r in cells]
    click.echo("\n".join(lines))  # one write, not one a row


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


def job_refs(values: tuple[str, ...] | list[str]) -> list[JobRef]:
    """Job ids (`A`, `A_I`, `A_[I-J]`) from arguments that may hold comma lists;
    a badly formed one is a usage error naming it."""
    try:
        return parse_job_refs(values, "JOB")
    except InvalidRequest as e:
        raise click.UsageError(str(e)) from None


def one_job(client: Client, text: str) -> int:
    """The one job an argument names (an array task as `A_I`)."""
    refs = job_refs([text])
    if len(refs) != 1:
        raise click.UsageError(f"JOB: {text!r} names {len(refs)} jobs; give one")
    ids = client.resolve(refs[0])
    if len(ids) != 1:
        raise click.UsageError(f"JOB: {text!r} names {len(ids)} jobs; give one")
    return ids[0]
