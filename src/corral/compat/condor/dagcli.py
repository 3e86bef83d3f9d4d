"""`corral dag`: submit a DAG's manager, run a DAG here, show a DAG's nodes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from corral.compat.condor import dagman
from corral.compat.condor.submit_dag import submit
from corral.model.errors import CorralError


@click.group("dag")
def dag() -> None:
    """DAGs of jobs (HTCondor DAGMan files): submit, run, status."""


@dag.command("submit")
@click.argument("dagfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-rescue", is_flag=True, help="Ignore the DAG's rescue files.")
def dag_submit(dagfile: Path, no_rescue: bool) -> None:
    """Submit DAGFILE's manager as a job (as condor_submit_dag)."""
    try:
        job_id = submit(dagfile.resolve(), not no_rescue)
    except CorralError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"DAG {dagfile.name}: manager job {job_id}; "
               f"log {dagfile.name}.dagman.out; `corral dag status {dagfile}`")


@dag.command("run")
@click.argument("dagfile", type=click.Path(dir_okay=False, path_type=Path))
def dag_run(dagfile: Path) -> None:
    """Run DAGFILE here, in the foreground, until it ends (exit status: the DAG's)."""
    dagman.main([str(dagfile)])


@dag.command("status")
@click.argument("dagfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The status file as it is.")
def dag_status(dagfile: Path, as_json: bool) -> None:
    """The DAG as one unit: each node's state, attempts and cluster."""
    path = dagman.status_path(dagfile.resolve())
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise click.ClickException(f"{dagfile}: no status yet ({path.name} is not there: "
                                   "has its manager started?)") from None
    if as_json:
        click.echo(json.dumps(data, indent=1))
        return
    states = [n["state"] for n in data["nodes"]]
    overall = ("aborted" if data.get("aborted") else "done" if all(s == "done" for s in states)
               else "failed" if all(s in ("done", "failed", "futile", "removed")
                                    for s in states) else "running")
    click.echo(f"DAG {Path(data['dag']).name}: {overall}; "
               + ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))))
    click.echo(f"{'NODE':<20} {'STATE':<8} {'TRIES':>5} {'CLUSTER':>8} {'RETURNED':>8}")
    for n in data["nodes"]:
        click.echo(f"{n['node'][:20]:<20} {n['state']:<8} {n['attempts']:>5} "
                   f"{n['cluster'] if n['cluster'] is not None else '-':>8} "
                   f"{n['returned'] if n['returned'] is not None else '-':>8}")
