"""`corral reservation`: advance reservations and maintenance windows."""

from __future__ import annotations

import click

from corral.cli.output import echo_json, table, when
from corral.cli.submit import parse_begin
from corral.client import Client
from corral.model.errors import InvalidRequest
from corral.model.units import parse_duration_s


@click.group("reservation")
def reservation() -> None:
    """Set nodes aside for some users over a time window (administrators)."""


@reservation.command("create")
@click.argument("name")
@click.option("--nodes", required=True, help="Comma-separated node names.")
@click.option("--start", "start", default="now", show_default=True,
              help="now, now+1hour, HH:MM or an ISO date.")
@click.option("--duration", required=True, help="How long: MM, HH:MM:SS or D-HH:MM:SS.")
@click.option("--users", default="", help="Comma-separated users allowed in it.")
@click.option("--accounts", default="", help="Comma-separated accounts allowed in it.")
@click.option("--maintenance", is_flag=True,
              help="A maintenance window: no job may run on the nodes then.")
def create(name: str, nodes: str, start: str, duration: str, users: str, accounts: str,
           maintenance: bool) -> None:
    try:
        t_start = parse_begin(start)
        length_s = parse_duration_s("duration", duration)
    except InvalidRequest as e:  # a badly formed value: bad usage
        raise click.UsageError(str(e)) from None
    if length_s <= 0:
        raise click.BadParameter("must be longer than 0", param_hint="--duration")
    with Client() as c:
        r = c.create_reservation(
            name=name, nodes=[n for n in nodes.split(",") if n], t_start=t_start,
            t_end=t_start + length_s, users=[u for u in users.split(",") if u],
            accounts=[a for a in accounts.split(",") if a], maintenance=maintenance)
    click.echo(f"reservation {r['name']}: {when(r['t_start'])} to {when(r['t_end'])}")


@reservation.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json: bool) -> None:
    with Client() as c:
        items = c.reservations()
    if as_json:
        echo_json({"reservations": items})
        return
    rows = [[r["name"], "maintenance" if r["maintenance"] else "reservation",
             when(r["t_start"]), when(r["t_end"]), ",".join(r["nodes"]),
             ",".join(r["users"] + r["accounts"]) or ("nobody" if r["maintenance"] else "any")]
            for r in items]
    table(["NAME", "KIND", "START", "END", "NODES", "FOR"], rows)


@reservation.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    with Client() as c:
        c.delete_reservation(name)
    click.echo(f"reservation {name} deleted")
