"""Control commands: cancel, hold, release, requeue, update."""

from __future__ import annotations

import signal as _signal
from collections.abc import Callable
from typing import Any

import click

from corral.cli.directives import check_name
from corral.cli.output import job_refs, one_job
from corral.client import Client
from corral.model import bounds
from corral.model.errors import CorralError, InvalidRequest
from corral.model.states import FINAL_JOB_STATES
from corral.model.units import parse_duration_s, parse_mem_mb


def _each(verb: str, jobs: tuple[str, ...], act: Callable[[Client, int, bool], Any]) -> None:
    """Apply to every job named (array tasks included; `act`'s third argument: named
    by its bare id, so an array's id means the whole array); report each failure on
    one line, `corral VERB: error: …`; exit 1 if any failed."""
    refs = job_refs(jobs)
    failed = 0

    def report(e: CorralError) -> None:
        nonlocal failed
        if e.code == "unavailable":
            raise e
        click.echo(f"corral {verb}: error: {e}", err=True)
        failed += 1

    with Client() as c:
        for ref in refs:
            try:
                ids = c.resolve(ref)
            except CorralError as e:
                report(e)
                continue
            for job_id in ids:
                try:
                    act(c, job_id, ref.tasks is None)
                except CorralError as e:
                    report(e)
    if failed:
        raise SystemExit(1)


def _ended(c: Client, job_id: int) -> tuple[str, str | None]:
    """The job's id as shown (`A_I` for a task) and the state it already ended in
    (None: it has not ended)."""
    job = c.job(job_id)
    shown = str(job.get("display_id", job_id))
    return shown, str(job["state"]) if job["state"] in FINAL_JOB_STATES else None


def _signal_number(name: str | None) -> int | None:
    if name is None:
        return None
    if name.isdigit():
        return int(name)
    key = name.upper()
    key = key if key.startswith("SIG") else "SIG" + key
    try:
        return int(_signal.Signals[key])
    except KeyError:
        raise click.BadParameter(f"{name!r} is not a signal", param_hint="--signal") from None


@click.command("cancel")
@click.option("-s", "--signal", "sig", help="Send this signal instead of cancelling.")
@click.option("--to", "target", type=click.Choice(["all", "batch", "steps"]), default="all",
              show_default=True,
              help="With --signal: every process of the job, its batch script's, or its "
                   "steps' (srun) only.")
@click.argument("jobs", nargs=-1, required=True)
def cancel(sig: str | None, target: str, jobs: tuple[str, ...]) -> None:
    number = _signal_number(sig)
    late = 0

    def act(c: Client, job_id: int, whole: bool) -> None:
        nonlocal late
        job = c.job(job_id)
        if whole and number is None and job.get("array_job_id") == job_id:
            # an array's id: the whole array, in one request (as scancel)
            if not c.cancel(job_id, whole_array=True).get("tasks", 1):
                click.echo(f"job {job_id} already ended (the whole array)", err=True)
            return
        if job["state"] not in FINAL_JOB_STATES:
            c.cancel(job_id, signal=number, target=target)
            return
        # As Slurm's scancel: a job that already ended is no error for a cancel,
        # but a signal it cannot receive is.
        click.echo(f"job {job.get('display_id', job_id)} already ended {job['state']}",
                   err=True)
        late += number is not None

    _each("cancel", jobs, act)
    if late:
        raise SystemExit(1)


@click.command("hold")
@click.argument("jobs", nargs=-1, required=True)
def hold(jobs: tuple[str, ...]) -> None:
    _each("hold", jobs, lambda c, j, whole: c.hold(j, whole_array=whole))


@click.command("release")
@click.argument("jobs", nargs=-1, required=True)
def release(jobs: tuple[str, ...]) -> None:
    _each("release", jobs, lambda c, j, whole: c.release(j, whole_array=whole))


@click.command("requeue")
@click.option("--hold", is_flag=True, help="Requeue held.")
@click.argument("jobs", nargs=-1, required=True)
def requeue(hold: bool, jobs: tuple[str, ...]) -> None:
    def act(c: Client, job_id: int, _whole: bool) -> None:
        shown, ended = _ended(c, job_id)
        c.requeue(job_id, hold=hold)
        if ended is not None:
            click.echo(f"job {shown} had ended {ended}; requeued"
                       + (" held" if hold else ""), err=True)

    _each("requeue", jobs, act)


@click.command("update")
@click.argument("job")
@click.option("-J", "--job-name", "name", callback=check_name)
@click.option("-t", "--time", help="New time limit.")
@click.option("--nice", type=click.IntRange(*bounds.NICE))
@click.option("--priority", type=click.IntRange(*bounds.PRIORITY))
@click.option("-p", "--partition")
@click.option("-c", "--cpus", type=click.IntRange(*bounds.CPUS_PER_NODE), help="CPUs per node.")
@click.option("--mem", help="Memory per node.")
@click.option("-A", "--account")
def update(job: str, name: str | None, time: str | None, nice: int | None,
           priority: int | None, partition: str | None, cpus: int | None, mem: str | None,
           account: str | None) -> None:
    job_refs([job])  # a badly formed id is bad usage before anything else
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    try:
        if time is not None:
            fields["time_limit_s"] = parse_duration_s("time", time)
        if mem is not None:
            fields["mem_mb_per_node"] = parse_mem_mb("mem", mem)
    except InvalidRequest as e:
        raise click.UsageError(str(e)) from None
    for key, value in (("nice", nice), ("priority", priority), ("partition", partition),
                       ("cpus_per_node", cpus), ("account", account)):
        if value is not None:
            fields[key] = value
    if not fields:
        raise click.UsageError("nothing to change: give at least one option")
    with Client() as c:
        # an array's id changes the whole array (A_I: that task alone)
        c.update(one_job(c, job), whole_array="_" not in job, **fields)


@click.group("node")
def node() -> None:
    """Administer nodes: drain (no new jobs), resume and delete."""


@node.command("drain")
@click.argument("names", nargs=-1, required=True)
@click.option("-r", "--reason", required=True, help="Why (shown in 'corral nodes').")
def node_drain(names: tuple[str, ...], reason: str) -> None:
    with Client() as c:
        for name in names:
            state = c.drain(name, reason)["state"]
            click.echo(f"{name}: {state}")


@node.command("resume")
@click.argument("names", nargs=-1, required=True)
def node_resume(names: tuple[str, ...]) -> None:
    with Client() as c:
        for name in names:
            state = c.resume(name)["state"]
            click.echo(f"{name}: {state}")


@node.command("delete")
@click.argument("names", nargs=-1, required=True)
def node_delete(names: tuple[str, ...]) -> None:
    """Forget nodes: refused while one runs jobs, unless it is down (its jobs are then
    requeued, or end NODE_FAIL)."""
    with Client() as c:
        for name in names:
            c.delete_node(name)
            click.echo(f"{name}: deleted")
