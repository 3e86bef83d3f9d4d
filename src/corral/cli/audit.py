"""`corral audit`: the audit trail — who asked for what change, from where, when, and
what came of it. Operators and administrators see every entry, users their own."""

from __future__ import annotations

import re
import time
from datetime import datetime

import click

from corral.cli.output import echo_json, table, when
from corral.client import Client

_AGO = re.compile(r"^now(?:-(\d+)\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)?)?$",
                  re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(option: str, text: str, now: float | None = None) -> float:
    """now, now-N[s|m|h|d] (minutes by default, as Slurm's), epoch seconds, or an ISO
    date and time (local time) -> epoch seconds."""
    now = time.time() if now is None else now
    t = text.strip()
    m = _AGO.match(t)
    if m:
        n = int(m.group(1) or 0)
        return now - n * _UNIT_S[(m.group(2) or "m")[0].lower()]
    try:
        return float(t)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(t).timestamp()
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time (now, now-2hours, "
                                 "2026-11-29T10:00 or epoch seconds)",
                                 param_hint=option) from None


@click.command("audit")
@click.option("-u", "--user", multiple=True, help="Only these users' requests.")
@click.option("-j", "--job", type=click.IntRange(1), help="Only requests about this job.")
@click.option("-a", "--action", multiple=True,
              help="Only these actions (submit, cancel, signal, hold, release, requeue, "
                   "update, drain, resume, ...).")
@click.option("--since", help="From this time: now-1hour, 2026-11-29T10:00, epoch seconds.")
@click.option("--until", help="Up to this time (same forms).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="The newest this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(user: tuple[str, ...], job: int | None, action: tuple[str, ...],
          since: str | None, until: str | None, limit: int, as_json: bool) -> None:
    """Who asked for what change, from where, when, and the result."""
    t_since = parse_when("--since", since) if since else None
    t_until = parse_when("--until", until) if until else None
    with Client() as c:
        entries = c.audit(user=list(user), job=job, action=list(action), since=t_since,
                          until=t_until, limit=limit)
    if as_json:
        echo_json({"entries": entries})
        return
    rows = []
    for e in entries:
        who = e["user"] if e["subject"] is None else f"{e['user']} ({e['subject']})"
        what = " ".join(str(p) for p in (
            f"job {e['job_id']}" if e["job_id"] is not None else "", e["target"]) if p)
        rows.append([when(e["t"]), who, e["role"], e["origin"], e["action"], what or "-",
                     e["result"]])
    table(["TIME", "USER", "ROLE", "FROM", "ACTION", "ON", "RESULT"], rows)
