"""`corral submit`: a script with #CORRAL directives, a command, or --wrap."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from corral.cli.directives import job_options, parse_directives
from corral.cli.request import build_request, parse_begin
from corral.client.api import Client
from corral.lang.sniff import looks_like_jdl
from corral.model.errors import InvalidRequest

__all__ = ["build_request", "parse_begin", "submit"]


@click.command("submit", context_settings={"allow_interspersed_args": False})
@job_options
@click.option("--wrap", help="Run this shell command line as the job.")
@click.option("--jdl", "jdl", is_flag=True,
              help="SCRIPT is a gLite JDL (also recognised by its content).")
@click.option("--parsable", is_flag=True, help="Print only the job id.")
@click.option("--wait", "wait", is_flag=True, help="Wait for the job to end; exit with its code.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--idempotency-key", "idem_key",
              help="Submit once per KEY: run again with the same key, it answers with the "
                   "job it made (default: a new key, reused only by its own retries).")
@click.option("--input-sandbox", "input_sandbox", multiple=True, metavar="FILE",
              help="Upload FILE; the job finds it in its working directory (repeatable).")
@click.option("--output-sandbox", "output_sandbox", multiple=True, metavar="NAME",
              help="Collect NAME from the working directory at the end, for "
                   "'corral output JOB' (repeatable).")
@click.argument("script", required=False)
@click.argument("args", nargs=-1)
@click.pass_context
def submit(ctx: click.Context, /, wrap: str | None, jdl: bool, parsable: bool, wait: bool,
           as_json: bool, idem_key: str | None, script: str | None, args: tuple[str, ...],
           input_sandbox: tuple[str, ...], output_sandbox: tuple[str, ...],
           **opts: Any) -> None:
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
    if script and (jdl or looks_like_jdl(text)):
        given = {k: v for k, v in opts.items()
                 if ctx.get_parameter_source(k) == ParameterSource.COMMANDLINE}
        from corral.cli.jdl_submit import submit_jdl  # the ClassAd library: only here
        submit_jdl(text, source, given, parsable=parsable, wait=wait, as_json=as_json,
                   sandbox=(input_sandbox, output_sandbox))
        return
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
        if input_sandbox or output_sandbox:
            from corral.lang.uploads import Uploads
            try:
                req["input_sandbox"] = Uploads(client).entries(input_sandbox)
            except InvalidRequest as e:
                raise click.UsageError(str(e)) from None
            req["output_sandbox"] = list(output_sandbox)
        ids = client.submit_many(idempotency_key=idem_key, **req)
        job_id = min(ids)  # an array: its id (the ids come in task order)
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


