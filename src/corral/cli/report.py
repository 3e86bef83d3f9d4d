"""`corral report`: usage over a period (docs/accounting.md) — cluster utilization,
top users, account usage by user, job sizes and waits — as a table, `--json` or
`--csv`. Periods are whole UTC hours; without --start/--end, yesterday."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from corral.cli.audit import parse_when
from corral.cli.output import echo_json, table
from corral.client import Client

F = Callable[..., Any]
UNITS_S = {"hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


def _common(f: F) -> F:
    for opt in reversed([
        click.option("-S", "--start", default=None,
                     help="From: now-7d, 2026-11-01T00:00, epoch seconds (default: "
                          "yesterday 00:00 UTC)."),
        click.option("-E", "--end", default=None, help="Until (rounded up to the hour)."),
        click.option("--unit", type=click.Choice([*UNITS_S, "percent"]), default="hours",
                     help="CPU time in hours (default), minutes, seconds, or percent of "
                          "the total."),
        click.option("--json", "as_json", is_flag=True, help="Print the API's JSON."),
        click.option("--csv", "as_csv", is_flag=True, help="Print CSV (numbers unrounded)."),
    ]):
        f = opt(f)
    return f


def _period(start: str | None, end: str | None) -> dict[str, float]:
    q: dict[str, float] = {}
    if start is not None:
        q["start"] = parse_when("--start", start)
    if end is not None:
        q["end"] = parse_when("--end", end)
    return q


def _stamp(t: float) -> str:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fetch(kind: str, start: str | None, end: str | None, unit: str, as_csv: bool,
           **query: Any) -> tuple[dict[str, Any], _Out, _Out]:
    """A report over the period, and how to show its CPU figures (`unit`; percent of
    the period's reported CPU time) and its other figures (hours when percent)."""
    with Client() as c:
        data = c.report(kind, **query, **_period(start, end))
        total = 0.0
        if unit == "percent":
            total = c.report("utilization", **_period(start, end))["totals"]["reported"]
    return (data, _Out(unit, total or 0.0, as_csv),
            _Out("hours" if unit == "percent" else unit, 0, as_csv))


class _Out:
    """Numbers in the chosen unit: rounded in tables, as computed in CSV."""

    def __init__(self, unit: str, total_s: float, as_csv: bool) -> None:
        self.unit, self.total_s, self.as_csv = unit, total_s, as_csv

    def __call__(self, seconds: float | None) -> str:
        if seconds is None:
            return ""
        if self.unit == "percent":
            v = 100.0 * seconds / self.total_s if self.total_s else 0.0
            return repr(round(v, 6)) if self.as_csv else f"{v:.2f}%"
        v = seconds / UNITS_S[self.unit]
        if self.as_csv:
            return repr(round(v, 6))
        return f"{v:.0f}" if self.unit != "hours" or v >= 100 else f"{v:.2f}"


def _emit(headers: Sequence[str], rows: Sequence[Sequence[Any]], as_csv: bool,
          title: str) -> None:
    if as_csv:
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(headers)
        w.writerows(rows)
        return
    click.echo(title)
    table(headers, rows)


@click.group("report")
def report() -> None:
    """Usage reports over a period (CPU time allocated, charge, jobs)."""


@report.group("cluster")
def cluster() -> None:
    """The cluster as a whole."""


@cluster.command("utilization")
@click.option("--bucket", type=click.Choice(["all", "hour", "day", "week"]), default="all",
              help="One row for the period (default), or one per hour, day or week.")
@_common
def utilization(bucket: str, start: str | None, end: str | None, unit: str,
                as_json: bool, as_csv: bool) -> None:
    """Allocated, down, planned down, reserved and idle CPU time, of all reported."""
    with Client() as c:
        data = c.report("utilization", bucket=bucket, **_period(start, end))
    if as_json:
        echo_json(data)
        return
    rows = data["series"] if bucket != "all" else [{"t": data["start"], **data["totals"]}]
    out_rows = []
    for r in rows:
        n = _Out(unit, r["reported"], as_csv)
        h = _Out("hours" if unit == "percent" else unit, 0, as_csv)
        out_rows.append([_stamp(r["t"]), n(r["allocated"]), n(r["down"]),
                         n(r["planned_down"]), n(r["reserved"]), n(r["idle"]),
                         h(r["reported"]), h(r["gpu_s"]), h(r["charge"]), r["jobs"]])
    _emit(["START", "ALLOCATED", "DOWN", "PLANNED_DOWN", "RESERVED", "IDLE", "REPORTED",
           "GPU", "CHARGE", "JOBS"], out_rows, as_csv,
          f"Cluster utilization {_stamp(data['start'])} - {_stamp(data['end'])} "
          f"(CPU {unit}; GPU and charge in {'hours' if unit == 'percent' else unit})")


@report.group("user")
def user() -> None:
    """Users."""


@user.command("top")
@click.option("--top", "top_n", type=click.IntRange(1, 100_000), default=10,
              help="How many (default 10).")
@click.option("--group", is_flag=True, help="One row per user, all accounts together.")
@click.option("-A", "--account", multiple=True, help="Only these accounts.")
@click.option("-u", "--user", "users", multiple=True, help="Only these users.")
@_common
def top(top_n: int, group: bool, account: tuple[str, ...], users: tuple[str, ...],
        start: str | None, end: str | None, unit: str, as_json: bool, as_csv: bool) -> None:
    """The users who used the most CPU time, with their account, charge and jobs."""
    data, n, h = _fetch("users", start, end, unit, as_csv, top=top_n, group=group,
                        user=list(users) or None, account=list(account) or None)
    if as_json:
        echo_json(data)
        return
    _emit(["USER", "ACCOUNT", "CPU", "CPU_USED", "GPU", "CHARGE", "ENERGY_J", "JOBS"],
          [[r["user"], r["account"], n(r["cpu_s"]), n(r["cpu_s_used"]), h(r["gpu_s"]),
            h(r["charge"]), "" if r["energy_j"] is None else round(r["energy_j"]),
            r["jobs"]] for r in data["users"]], as_csv,
          f"Top {top_n} users {_stamp(data['start'])} - {_stamp(data['end'])} (CPU {unit})")


@report.group("account")
def account() -> None:
    """Accounts."""


@account.command("usage")
@_common
def usage(start: str | None, end: str | None, unit: str, as_json: bool,
          as_csv: bool) -> None:
    """CPU time and charge per account (sub-accounts included) and per user in it."""
    data, n, h = _fetch("accounts", start, end, unit, as_csv)
    if as_json:
        echo_json(data)
        return
    _emit(["ACCOUNT", "USER", "CPU", "GPU", "CHARGE", "JOBS"],
          [[r["account"] if as_csv else "  " * r["depth"] + r["account"], r["user"],
            n(r["cpu_s"]), h(r["gpu_s"]), h(r["charge"]), r["jobs"]]
           for r in data["rows"]], as_csv,
          f"Account usage by user {_stamp(data['start'])} - {_stamp(data['end'])} "
          f"(CPU {unit})")


@report.group("job")
def job() -> None:
    """Jobs that ended in the period."""


def _dist(by: str, start: str | None, end: str | None, unit: str, account: tuple[str, ...],
          partition: tuple[str, ...], as_json: bool, as_csv: bool) -> None:
    with Client() as c:
        data = c.report("jobs", by=by, account=list(account) or None,
                        partition=list(partition) or None, **_period(start, end))
    if as_json:
        echo_json(data)
        return
    total = sum(b["cpu_s"] for b in data["buckets"])
    n = _Out(unit, total, as_csv)

    def label(b: dict[str, Any]) -> str:
        if by == "size":
            return str(b["lo"]) if b["hi"] == b["lo"] else f"{b['lo']}-{b['hi']}"
        return f"{b['lo']}-{b['hi'] if b['hi'] is not None else ''}"
    _emit(["CPUS" if by == "size" else "WAIT_S", "JOBS", "CPU", "MEAN_WAIT_S"],
          [[label(b), b["jobs"], n(b["cpu_s"]),
            repr(b["wait_s_mean"]) if as_csv else f"{b['wait_s_mean']:.0f}"]
           for b in data["buckets"]], as_csv,
          f"Jobs by {'size' if by == 'size' else 'wait'} {_stamp(data['start'])} - "
          f"{_stamp(data['end'])} (CPU {unit})")


def _job_options(f: F) -> F:
    f = click.option("-A", "--account", multiple=True, help="Only these accounts.")(f)
    f = click.option("-p", "--partition", multiple=True, help="Only these partitions.")(f)
    return _common(f)


@job.command("sizes")
@_job_options
def sizes(**kw: Any) -> None:
    """How many jobs, and how much CPU time, by size (CPUs: 1, 2, 3-4, 5-8…)."""
    _dist("size", **kw)


@job.command("waits")
@_job_options
def waits(**kw: Any) -> None:
    """How many jobs waited how long in the queue (0-60 s, 1-5 min, … 7 d-)."""
    _dist("wait", **kw)
