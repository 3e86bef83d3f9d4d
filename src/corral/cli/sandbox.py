"""`corral output JOB [DIR]`: a job's output sandbox files (docs/job-languages.md)."""

from __future__ import annotations

from pathlib import Path

import click

from corral.client import Client


@click.command("output")
@click.argument("job")
@click.argument("directory", required=False, default=".")
def output(job: str, directory: str) -> None:
    """Copy a job's output sandbox files into DIRECTORY (default: here)."""
    from corral.cli.output import one_job
    with Client() as client:
        job_id = one_job(client, job)
        files = client.output_files(job_id)
        if not files:
            click.echo(f"job {job}: no output files were collected", err=True)
            raise SystemExit(1)
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            data = client.output_file(job_id, f["name"])
            path = target / f["name"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            click.echo(f"{path} ({len(data)} bytes)")
