"""Human tables and JSON for the read commands."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from corral.cli.listing import table_text, when
from corral.client import Client
from corral.model.errors import InvalidRequest
from corral.model.jobid import JobRef, parse_job_refs
from corral.model.units import format_clock_s

# (`when` is defined in corral.cli.listing; the read commands import it from here)
__all__ = ["clock", "echo_json", "job_refs", "one_job", "table", "when"]


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    click.echo(table_text(headers, rows))  # one write, not one a row


clock = format_clock_s


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
