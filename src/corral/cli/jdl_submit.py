"""`corral submit job.jdl`: a gLite JDL's jobs (corral.lang.jdl), submitted all or none."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from corral.cli.request import build_request
from corral.client.api import Client
from corral.lang.jdl import LOCAL_INPUTS, jdl_jobs
from corral.lang.submitting import submit_all
from corral.model.errors import InvalidRequest

# what build_request makes of any command line: the JDL's own values stay
_JDL_OWNS = frozenset({"name", "working_dir", "script", "argv", "environment"})


def submit_jdl(text: str, source: str, given: dict[str, Any], *, parsable: bool,
               wait: bool, as_json: bool,
               sandbox: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())) -> None:
    """Submit every job of the JDL; options given on the command line (-p, -t, …)
    apply to each and override the JDL's."""
    try:
        jobs = jdl_jobs(text, source=source, cwd=os.path.abspath(given.get("chdir")
                                                                  or os.getcwd()),
                        environ=os.environ)
        extra = build_request(given, script=None, argv=[], default_name="jdl")
    except InvalidRequest as e:
        raise click.UsageError(str(e)) from None
    if jobs.job_type == "Interactive":
        raise click.UsageError(f"{source}: JobType: 'Interactive' jobs run attached to a "
                               "terminal: submit it with glite-wms-job-submit (or use "
                               "salloc / srun --pty)")
    if jobs.job_type == "DAG":
        if any(sandbox) or given:
            raise click.UsageError(f"{source}: a DAG JDL takes no command-line job options "
                                   "(give them in its nodes)")
        _submit_dag(jobs.requests[0], source, parsable=parsable, wait=wait,
                    as_json=as_json)
        return
    if "name" in given:
        extra["name"] = given["name"]
    overrides = {k: v for k, v in extra.items() if k not in _JDL_OWNS or k in given}
    requests = [{**r, **overrides} for r in jobs.requests]
    inputs, outputs = sandbox  # --input-sandbox / --output-sandbox: added to the JDL's
    for r in requests:
        if inputs:
            r[LOCAL_INPUTS] = [*r.get(LOCAL_INPUTS, []), *inputs]
        if outputs:
            r["output_sandbox"] = [*r.get("output_sandbox", []), *outputs]
    with Client() as client:
        ids = submit_all(client, requests)
        if as_json and not wait:
            from corral.cli.output import echo_json
            echo_json({"id": ids[0], "ids": ids, "job_type": jobs.job_type})
        elif parsable:
            click.echo("\n".join(str(i) for i in ids))
        elif not as_json:
            if len(ids) == 1:
                click.echo(f"Submitted job {ids[0]}")
            else:
                click.echo(f"Submitted {len(ids)} jobs ({jobs.job_type}): "
                           f"{' '.join(str(i) for i in ids)}")
        if not wait:
            return
        from corral.cli.waiting import wait_all
        ended = wait_all(client, ids)
    if as_json:
        from corral.cli.output import echo_json
        echo_json(ended[0] if len(ended) == 1 else {"jobs": ended})
    bad = [j for j in ended if j["state"] != "COMPLETED"]
    if bad:
        code = bad[0].get("exit_code")
        click.echo(f"job {bad[0]['display_id']} ended {bad[0]['state']}", err=True)
        sys.exit(code if isinstance(code, int) and 0 < code < 256 else 1)


def _submit_dag(request: dict[str, Any], source: str, *, parsable: bool, wait: bool,
                as_json: bool) -> None:
    """A DAG JDL: its manager's job, which submits the nodes (`corral dag status`)."""
    with Client() as client:
        job_id = client.submit(**request)
        if as_json and not wait:
            from corral.cli.output import echo_json
            echo_json({"id": job_id, "ids": [job_id], "job_type": "DAG"})
        elif parsable:
            click.echo(str(job_id))
        elif not as_json:
            click.echo(f"Submitted DAG {os.path.basename(source)}: manager job {job_id} "
                       f"(`corral dag status {source}`)")
        if not wait:
            return
        from corral.cli.waiting import wait_all
        ended = wait_all(client, [job_id])
    if as_json:
        from corral.cli.output import echo_json
        echo_json(ended[0])
    if ended[0]["state"] != "COMPLETED":
        code = ended[0].get("exit_code")
        click.echo(f"DAG {os.path.basename(source)}: did not succeed (job "
                   f"{ended[0]['display_id']} ended {ended[0]['state']})", err=True)
        sys.exit(code if isinstance(code, int) and 0 < code < 256 else 1)
