"""glite-wms-job-status [-v 0-3] [-i FILE] JOB_ID...: each job's state as the L&B
service names it (Submitted, Waiting, Ready, Scheduled, Running, Done, Aborted,
Cancelled, Cleared)."""

from __future__ import annotations

import sys
from typing import Any

from corral.compat import frontend
from corral.compat.glite.common import (
    RULE,
    banner,
    clear_key,
    cleared_keys,
    job_uri,
    lb_events,
    parse_job_id,
    read_id_file,
    status_of,
    when,
)
from corral.compat.options import NONE, REQUIRED, Opt, OptionError, collect, parse
from corral.model.errors import NotFound

PROG = "glite-wms-job-status"
OPTS = [
    Opt("verbosity", "verbosity", REQUIRED, "v"), Opt("input", "input", REQUIRED, "i"),
    Opt("config", "config", REQUIRED, "c"), Opt("vo", "vo", REQUIRED),
    Opt("noint", "noint", NONE), Opt("debug", "debug", NONE),
    Opt("logfile", "logfile", REQUIRED), Opt("help", "help", NONE), Opt("all", "all", NONE),
]


def job_ids(argv: list[str], opts: list[Opt]) -> tuple[dict[str, Any], list[int]]:
    found, operands = parse(argv, opts, interspersed=True)
    o = collect(found)
    ids = read_id_file(o["input"]) if "input" in o else []
    ids += [parse_job_id(x) for x in operands]
    if not ids and "help" not in o and "all" not in o:
        raise OptionError("give at least one job identifier (or -i FILE)")
    return o, ids


def render(job: dict[str, Any], events: list[dict[str, Any]], verbosity: int,
           cleared: bool, host: str | None = None) -> str:
    state, reason = status_of(job, cleared)
    lines = [f"Status info for the Job : {job_uri(int(job['id']), host)}",
             f"Current Status:     {state}"]
    if job.get("exit_code") is not None and state.startswith("Done"):
        lines.append(f"Exit code:          {job['exit_code']}")
    lines.append(f"Status Reason:      {reason}")
    if job.get("node_list"):
        lines.append(f"Destination:        {','.join(job['node_list'])}")
    lines.append(f"Submitted:          {when(job.get('t_submit'))}")
    if verbosity >= 1:
        seen: dict[str, float] = {}
        for e in lb_events(events, cleared):
            seen.setdefault(e.state, e.t)
        lines.append("- stateEnterTimes =")
        for name in ("Submitted", "Waiting", "Ready", "Scheduled", "Running", "Done",
                     "Cleared", "Aborted", "Cancelled"):
            if name == "Done":
                t = next((t for s, t in seen.items() if s.startswith("Done")), None)
            else:
                t = seen.get(name)
            lines.append(f"      {name + ':':<11}{when(t) if t else '       ---'}")
    if verbosity >= 2:
        spec = job.get("spec") or {}
        lines += [f"- Owner            =    {job.get('user', '')}",
                  f"- Partition        =    {job.get('partition', '')}",
                  f"- Requirements     =    {spec.get('requirements') or 'true'}",
                  f"- Rank             =    {spec.get('rank') or '0'}",
                  f"- RetryCount       =    {spec.get('retry_count') or 0}",
                  f"- Resubmitted      =    {job.get('restarts', 0)}"]
    if verbosity >= 3 and (job.get("spec") or {}).get("jdl"):
        lines += ["- Jdl              =", str(job["spec"]["jdl"]).rstrip()]
    return "\n".join(lines)


def body(argv: list[str]) -> int:
    o, ids = job_ids(argv, OPTS)
    if "help" in o:
        print(f"Usage: {PROG} [-v 0-3] [-i FILE] [--all] <job Id(s)>")
        return 0
    v = o.get("verbosity", "1")
    if v not in ("0", "1", "2", "3"):
        raise OptionError(f"-v: {v!r} is not a verbosity level (0 to 3)")
    done = cleared_keys()
    code = 0
    out = [f"\n\n{banner(PROG)}", "BOOKKEEPING INFORMATION:\n"]
    with frontend.client() as c:
        if "all" in o:  # every job of the caller's made from a JDL
            ids += [int(j["id"]) for j in c.jobs(history=True, user=[frontend.me()])
                    if (j.get("spec") or {}).get("jdl") and int(j["id"]) not in ids]
        for job_id in ids:
            try:
                job = dict(c.job(job_id))
                events = [dict(e) for e in c.events(job_id)] if v != "0" else []
            except NotFound:
                print(f"Error - Unable to retrieve the status for: {job_uri(job_id)}\n"
                      f"no such job", file=sys.stderr)
                code = 1
                continue
            out.append(render(job, events, int(v), clear_key(job) in done))
            out.append(RULE + "\n")
    if len(out) > 2:
        print("\n".join(out))
    return code


def main() -> None:
    frontend.run(PROG, body, sys.argv[1:], error_prefix="")
