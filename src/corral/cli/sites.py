"""`corral sites` (what each site has, awaits and does) and `corral pilot` (the
factory that sends pilots into the sites' batch systems; docs/pilots.md)."""

from __future__ import annotations

import time

import click

from corral.cli.output import echo_json, table
from corral.client import Client


@click.command("sites")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("-l", "--long", "long_", is_flag=True, help="Also list each site's nodes.")
def sites(as_json: bool, long_: bool) -> None:
    """Each site: its nodes and pilots, the jobs waiting for it, the jobs it ended."""
    with Client() as c:
        found = c.sites()
    if as_json:
        echo_json({"sites": found})
        return
    rows = [[s["name"], s["batch"] or "-",
             f"{s['pilots']}/{s['max_pilots']}" if s["max_pilots"] else str(s["pilots"]),
             len(s["nodes"]), f"{s['cpus_used']}/{s['cpus']}", s["running"],
             f"{s['queued']} ({s['queued_cpus']} CPUs)", s["ended_last_hour"],
             s["ended_total"]] for s in found]
    table(["SITE", "BATCH", "PILOTS", "NODES", "CPUS(A/T)", "RUNNING", "QUEUED",
           "ENDED/1H", "ENDED"], rows)
    shares = [[s["name"], who, f"{used:.0f}",
               f"{s['fairshare'].get(who, 1.0):.4f}" if s.get("fairshare") is not None
               else "-"]
              for s in found
              for who, used in sorted({**dict.fromkeys(s.get("fairshare") or {}, 0.0),
                                       **(s.get("usage_cpu_s") or {})}.items())]
    if shares:
        click.echo()
        table(["SITE", "ACCOUNT", "USAGE_CPU_S", "FAIRSHARE"], shares)
    if long_:
        now = time.time()
        nodes = [[s["name"], n["name"], n["state"], f"{n['cpus_used']}/{n['cpus']}",
                  n["batch_job"] or "-",
                  f"{max(0, int(n['t_deadline'] - now))} s" if n["t_deadline"] else "-",
                  ",".join(str(j) for j in n["jobs"]) or "-"]
                 for s in found for n in s["nodes"]]
        click.echo()
        table(["SITE", "NODE", "STATE", "CPUS(A/T)", "BATCH_JOB", "TIME_LEFT", "JOBS"], nodes)


@click.command("pilot")
@click.option("--site", "site_names", multiple=True,
              help="Serve only this site (repeatable; default: every [[sites]] entry).")
@click.option("--once", is_flag=True, help="One pass, then exit.")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def pilot(site_names: tuple[str, ...], once: bool, verbose: bool) -> None:
    """Run the pilot factory: per configured site, compare the jobs waiting for it with
    its pilots, and submit corral agents into its batch system (sbatch, qsub) as
    ordinary jobs; pilots leave by themselves when idle or at their wall time."""
    from corral.pilot.factory import run_factory

    run_factory(list(site_names), once=once, verbose=verbose)
