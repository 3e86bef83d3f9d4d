"""glite-wms-job-logging-info [-v 0-3] [-i FILE] JOB_ID...: the job's events as the
L&B service logs them (RegJob, Accepted, Match, EnQueued, Running, Done, …)."""

from __future__ import annotations

import sys

from corral.compat import frontend
from corral.compat.glite.common import (
    RULE,
    banner,
    clear_key,
    cleared_keys,
    job_uri,
    lb_events,
    when,
)
from corral.compat.glite.status import job_ids
from corral.compat.options import NONE, REQUIRED, Opt, OptionError
from corral.model.errors import NotFound

PROG = "glite-wms-job-logging-info"
OPTS = [
    Opt("verbosity", "verbosity", REQUIRED, "v"), Opt("input", "input", REQUIRED, "i"),
    Opt("config", "config", REQUIRED, "c"), Opt("vo", "vo", REQUIRED),
    Opt("noint", "noint", NONE), Opt("debug", "debug", NONE),
    Opt("logfile", "logfile", REQUIRED), Opt("help", "help", NONE),
]


def render(job_id: int, events: list[dict[str, object]], verbosity: int, cleared: bool,
           host: str | None = None) -> str:
    lines = [f"Printing info for the Job : {job_uri(job_id, host)}", ""]
    for e in lb_events(events, cleared):
        lines.append("        ---")
        lines.append(f"Event: {e.name}")
        if verbosity >= 1:
            lines.append(f"- {'Timestamp':<27}=    {when(e.t)}")
            lines.append(f"- {'State':<27}=    {e.state}")
        if verbosity >= 2:
            lines += [f"- {k:<27}=    {v}" for k, v in e.details]
    return "\n".join(lines)


def body(argv: list[str]) -> int:
    o, ids = job_ids(argv, OPTS)
    if "help" in o:
        print(f"Usage: {PROG} [-v 0-3] [-i FILE] <job Id(s)>")
        return 0
    v = o.get("verbosity", "1")
    if v not in ("0", "1", "2", "3"):
        raise OptionError(f"-v: {v!r} is not a verbosity level (0 to 3)")
    done = cleared_keys()
    parts: list[str] = []
    code = 0
    with frontend.client() as c:
        for job_id in ids:
            try:
                events = [dict(e) for e in c.events(job_id)]
                key = clear_key(c.job(job_id))
            except NotFound:
                print(f"Error - Unable to retrieve the logging information for: "
                      f"{job_uri(job_id)}\nno such job", file=sys.stderr)
                code = 1
                continue
            parts.append(render(job_id, events, int(v), key in done))
    if parts:
        print(f"\n{banner(PROG)}\n\nLOGGING INFORMATION:\n")
        print(f"\n{RULE}\n\n".join(parts))
        print(f"{RULE}\n")
    return code


def main() -> None:
    frontend.run(PROG, body, sys.argv[1:], error_prefix="")
