"""`corral output JOB [DIR]` / `corral output --dir DIR JOB...`: jobs' output sandbox
files (docs/job-languages.md)."""

from __future__ import annotations

from pathlib import Path

import click

from corral.client import Client


@click.command("output")
@click.argument("args", nargs=-1, required=True, metavar="JOB [DIR] | --dir DIR JOB...")
@click.option("-d", "--dir", "into", metavar="DIR",
              help="Copy into DIR; with several jobs, each job's files into DIR/JOB.")
def output(args: tuple[str, ...], into: str | None) -> None:
    """Copy a job's output sandbox files into DIR (default: here); with --dir, those of
    every JOB named (a Collection's, a Parametric JDL's)."""
    if into is None:
        if len(args) > 2:
            raise click.UsageError(f"{len(args)} arguments: give JOB [DIR], or "
                                   "--dir DIR JOB... for several jobs")
        jobs, into = args[:1], (args[1] if len(args) == 2 else ".")
    else:
        jobs = args
    from corral.cli.output import one_job
    missing = 0
    with Client() as client:
        for job in jobs:
            job_id = one_job(client, job)
            files = client.output_files(job_id)
            if not files:
                click.echo(f"job {job}: no output files were collected", err=True)
                missing += 1
                continue
            target = Path(into) / (job if len(jobs) > 1 else "")
            target.mkdir(parents=True, exist_ok=True)
            for f in files:
                data = client.output_file(job_id, f["name"])
                path = target / f["name"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                click.echo(f"{path} ({len(data)} bytes)")
    if missing:
        raise SystemExit(1)
