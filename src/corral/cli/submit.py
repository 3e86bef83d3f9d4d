"""`corral submit`: a script with #CORRAL directives, a command, or --wrap."""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from corral.cli.directives import job_options, parse_directives
from corral.client.api import Client
from corral.compat import hostlist
from corral.model.bounds import EPOCH_S, shown
from corral.model.errors import InvalidRequest
from corral.model.features import constraint_terms

_REL = re.compile(r"^now\+(\d+)\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)?$", re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_begin(text: str, now: float | None = None) -> float:
    now = time.time() if now is None else now
    t = text.strip()
    m = _REL.match(t)
    if m:
        unit = (m.group(2) or "s")[0].lower()
        ahead_s = int(m.group(1)) * _UNIT_S[unit]
        if now + min(ahead_s, EPOCH_S[1]) > EPOCH_S[1]:
            raise InvalidRequest(f"begin: {shown(text)} is later than the year 9999")
        return now + ahead_s
    if t.lower() == "now":
        return now
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", t):
        parts = [int(p) for p in t.split(":")] + [0]
        base = datetime.fromtimestamp(now).replace(hour=parts[0], minute=parts[1],
                                                   second=parts[2], microsecond=0)
        ts = base.timestamp()
        return ts if ts > now else ts + 86400
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise InvalidRequest(
            f"begin: {text!r} is not a time (use now+60, now+2hours, HH:MM or an ISO date)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.timestamp()


def _hosts(field: str, text: str) -> list[str]:
    try:
        names = hostlist.expand(text)
    except ValueError:
        names = []
    if not names:
        raise InvalidRequest(f"{field}: {text!r} is not a node list (use n1,n2 or n[1-4])")
    return list(dict.fromkeys(names))


def build_request(opts: dict[str, Any], *, script: str | None, argv: list[str],
                  default_name: str) -> dict[str, Any]:
    req: dict[str, Any] = {
        "name": opts.get("name") or default_name,
        "working_dir": os.path.abspath(opts.get("chdir") or os.getcwd()),
        "script": script,
        "argv": argv,
        "environment": dict(os.environ),
    }
    if opts.get("output"):
        req["stdout"] = opts["output"]
    if opts.get("error"):
        req["stderr"] = opts["error"]
    for key in ("partition", "account", "nice", "priority", "user"):
        if opts.get(key) is not None:
            req[key] = opts[key]
    if opts.get("nodes") is not None:
        req["nodes"] = opts["nodes"]
    if opts.get("cpus") is not None:
        req["cpus_per_node"] = opts["cpus"]
    if opts.get("gpus") is not None:
        req["gpus_per_node"] = opts["gpus"]
    if opts.get("mem") or opts.get("time"):
        from corral.model.units import parse_duration_s, parse_mem_mb
    if opts.get("mem"):
        req["mem_mb_per_node"] = parse_mem_mb("mem", opts["mem"])
    if opts.get("time"):  # UNLIMITED: 0, which is not "not given" (None)
        req["time_limit_s"] = parse_duration_s("time", opts["time"])
    if opts.get("hold"):
        req["hold"] = True
    if opts.get("begin"):
        req["t_begin"] = parse_begin(opts["begin"])
    if opts.get("constraint"):
        req["features"] = constraint_terms(opts["constraint"])
    for key in ("nodelist", "exclude"):
        if opts.get(key):
            req[key] = _hosts(key, opts[key])
    if opts.get("no_requeue"):
        req["requeue"] = False
    if opts.get("max_retries") is not None:
        req["max_retries"] = opts["max_retries"]
    for key in ("array", "dependency", "signal", "qos", "reservation"):
        if opts.get(key):
            req[key] = opts[key]
    if opts.get("kill_on_invalid_dep"):
        req["kill_on_invalid_dep"] = opts["kill_on_invalid_dep"] == "yes"
    if opts.get("exclusive"):
        req["exclusive"] = True
    return req


@click.command("submit", context_settings={"allow_interspersed_args": False})
@job_options
@click.option("--wrap", help="Run this shell command line as the job.")
@click.option("--parsable", is_flag=True, help="Print only the job id.")
@click.option("--wait", "wait", is_flag=True, help="Wait for the job to end; exit with its code.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--idempotency-key", "idem_key",
              help="Submit once per KEY: run again with the same key, it answers with the "
                   "job it made (default: a new key, reused only by its own retries).")
@click.argument("script", required=False)
@click.argument("args", nargs=-1)
@click.pass_context
def submit(ctx: click.Context, /, wrap: str | None, parsable: bool, wait: bool, as_json: bool,
           idem_key: str | None, script: str | None, args: tuple[str, ...], **opts: Any) -> None:
    """Submit SCRIPT (with #CORRAL directives) or --wrap 'COMMAND'.

    SCRIPT '-' reads the script from standard input. The script is copied at
    submit: it may be changed or deleted right after.
    """
    if wrap and script:
        raise click.UsageError("give a script or --wrap, not both")
    if wrap:
        text = f"#!/bin/sh\n{wrap}\n"
        name, source = "wrap", "--wrap"
    elif script:
        source = script
        try:
            text = sys.stdin.read() if script == "-" else Path(script).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise click.UsageError(f"script {script!r}: cannot read it ({e})") from None
        name = "stdin" if script == "-" else Path(script).name
    else:
        raise click.UsageError("give a script to submit, or --wrap 'COMMAND'")
    merged = parse_directives(text, source, check=lambda line: build_request(
        line, script=None, argv=[], default_name=name))
    for key, value in opts.items():
        if ctx.get_parameter_source(key) == ParameterSource.COMMANDLINE or key not in merged:
            merged[key] = value
    try:
        req = build_request(merged, script=text, argv=list(args), default_name=name)
    except InvalidRequest as e:  # a badly formed value, read here: bad usage
        raise click.UsageError(str(e)) from None
    with Client() as client:
        ids = client.submit_many(idempotency_key=idem_key, **req)
        job_id = ids[0]
        if as_json and not wait:
            from corral.cli.output import echo_json
            echo_json({"id": job_id, "ids": ids})
        elif parsable:
            click.echo(str(job_id))
        elif not as_json:
            what = f"array job {job_id} ({len(ids)} tasks)" if req.get("array") else \
                f"job {job_id}"
            click.echo(f"Submitted {what}")
        if not wait:
            return
        from corral.cli.waiting import wait_all
        ended = wait_all(client, ids)
    if as_json:
        from corral.cli.output import echo_json
        echo_json(ended[0] if len(ended) == 1 else {"jobs": ended})
    bad = [j for j in ended if j["state"] != "COMPLETED"]
    if not bad:
        sys.exit(0)
    job = bad[0]
    code = job.get("exit_code")
    click.echo(f"job {job['display_id']} ended {job['state']}"
               + (f" (exit code {code})" if code is not None else "")
               + (f" (signal {job['signal']})" if job.get("signal") else ""), err=True)
    sys.exit(code if isinstance(code, int) and 0 < code < 256 else 1)


