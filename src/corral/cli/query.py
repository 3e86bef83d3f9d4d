"""Read commands: status, jobs, show, events, nodes, partitions. All take --json."""

from __future__ import annotations

import click

from corral.cli.controllers import controllers_of, echo_election
from corral.cli.listing import job_table, show_text, when
from corral.cli.output import clock, echo_json, job_refs, one_job, table
from corral.client import Client
from corral.model.states import FINAL_JOB_STATES as _FINAL
from corral.model.states import JobState

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _states(values: tuple[str, ...]) -> list[str]:
    """Job state names from -t (comma lists, any case); an unknown one is bad usage."""
    out = []
    for value in values:
        for part in value.split(","):
            name = part.strip().upper()
            if name not in JobState.__members__:
                raise click.UsageError(
                    f"--state: {part!r} is not a job state "
                    f"(one of {', '.join(s.value for s in JobState)})")
            out.append(name)
    return out


@click.command("status")
@json_option
def status(as_json: bool) -> None:
    with Client() as c:
        st = c.status()
        election = controllers_of(c)
    if as_json:
        echo_json({**st, "election": election} if election else st)
        return
    click.echo(f"controller  up {clock(st['uptime_s'])}, version {st['version']}")
    click.echo(f"store       {st['database']}")
    click.echo(f"policy      {st['policy']}")
    jobs = ", ".join(f"{k.lower()} {v}" for k, v in sorted(st["jobs"].items())) or "none"
    click.echo(f"jobs        {jobs}")
    nodes = ", ".join(f"{k} ({v.lower()})" for k, v in sorted(st["nodes"].items())) or "none"
    click.echo(f"nodes       {nodes}")
    if election:
        echo_election(election)


@click.command("jobs")
@click.option("-u", "--user", multiple=True, help="Only these users' jobs.")
@click.option("-t", "--state", multiple=True, help="Only jobs in these states.")
@click.option("-p", "--partition", multiple=True, help="Only these partitions.")
@click.option("-j", "--job", "ids", multiple=True, help="Only these job ids.")
@click.option("-n", "--name", multiple=True, help="Only jobs with these names.")
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Include recently finished jobs.")
@click.option("--history", is_flag=True, help="Query the whole record, not just the queue.")
@click.option("--limit", type=click.IntRange(1), help="At most this many jobs.")
@click.option("-l", "--long", "long_format", is_flag=True,
              help="Also show priority, expected start and time limit.")
@click.option("-r", "--array", "expand", is_flag=True,
              help="One line per pending array task (by default an array's pending "
                   "tasks are one line, 57_[5-99]).")
@json_option
def jobs(user: tuple[str, ...], state: tuple[str, ...], partition: tuple[str, ...],
         ids: tuple[str, ...], name: tuple[str, ...], show_all: bool, history: bool,
         limit: int | None, long_format: bool, expand: bool, as_json: bool) -> None:
    refs = job_refs(ids)
    states = _states(state)
    named_tasks = any(ref.tasks is not None for ref in refs)
    with Client() as c:
        wanted = [i for ref in refs for i in c.resolve(ref)]
        found = c.jobs(history=history, user=list(user), state=states,
                       partition=list(partition), id=[str(i) for i in wanted],
                       name=list(name), limit=limit, expand_arrays=expand or named_tasks,
                       brief=not as_json)  # the table shows only what the brief view has
    if named_tasks:  # `-j 57_[1-2]`: those tasks, not the rest of their array
        plain = {ref.job_id for ref in refs if ref.tasks is None}
        found = [j for j in found if j["id"] in wanted or j.get("array_job_id") in plain]
    if as_json:
        if not (show_all or history or states):
            found = [j for j in found if j["state"] not in _FINAL]
        echo_json({"jobs": found})
        return
    click.echo(job_table(found, long_format=long_format,
                         show_final=show_all or history or bool(states)))


@click.command("show")
@click.argument("job")
@json_option
def show(job: str, as_json: bool) -> None:
    with Client() as c:
        j = c.job(one_job(c, job))
    if as_json:
        echo_json(j)
        return
    click.echo(show_text(j), nl=False)


@click.command("explain")
@click.argument("job")
@json_option
def explain(job: str, as_json: bool) -> None:
    """Why a job waits, in plain words, and what would let it start."""
    with Client() as c:
        answer = c.explain(one_job(c, job))
    if as_json:
        echo_json(answer)
        return
    for line in answer["explanation"]:
        click.echo(line)


@click.command("events")
@click.argument("job")
@json_option
def events(job: str, as_json: bool) -> None:
    with Client() as c:
        evs = c.events(one_job(c, job))
    if as_json:
        echo_json({"events": evs})
        return
    rows = []
    for e in evs:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(e["data"].items())
                           if k not in ("environment", "script") and v not in (None, ""))
        if e["kind"] == "submit":
            detail = ""
        rows.append([e["seq"], when(e["t"]), e["kind"], e["from_state"] or "-",
                     e["to_state"] or "-", detail])
    table(["SEQ", "TIME", "EVENT", "FROM", "TO", "DETAIL"], rows)


@click.command("nodes")
@json_option
def nodes(as_json: bool) -> None:
    with Client() as c:
        ns = c.nodes()
    if as_json:
        echo_json({"nodes": ns})
        return
    rows = [[n["name"], n["state"], f"{n['cpus_used']}/{n['cpus']}",
             f"{n['mem_mb_used']}/{n['mem_mb']}", f"{n['gpus_used']}/{n['gpus']}",
             ",".join(n["features"]) or "-", len(n["jobs"]), n["drain_reason"] or "-"]
            for n in ns]
    headers = ["NODE", "STATE", "CPUS(A/T)", "MEM_MB(A/T)", "GPUS(A/T)", "FEATURES", "JOBS",
               "REASON"]
    if any(n.get("gres") for n in ns):  # generic resources: a column when a node has some
        headers.insert(5, "GRES(A/T)")
        for row, n in zip(rows, ns, strict=True):
            gres = n.get("gres") or {}
            used = n.get("gres_used") or {}
            row.insert(5, ",".join(f"{k}:{used.get(k, 0)}/{v}" for k, v in sorted(gres.items()))
                       or "-")
    table(headers, rows)


@click.command("partitions")
@json_option
def partitions(as_json: bool) -> None:
    with Client() as c:
        ps = c.partitions()
    if as_json:
        echo_json({"partitions": ps})
        return
    rows = [[p["name"] + ("*" if p["default"] else ""), len(p["nodes"]),
             f"{p['cpus_used']}/{p['cpus']}",
             clock(p["max_time_s"]) if p["max_time_s"] else "UNLIMITED",
             ",".join(p["nodes"]) or "-"] for p in ps]
    table(["PARTITION", "NODES", "CPUS(A/T)", "TIMELIMIT", "NODELIST"], rows)
