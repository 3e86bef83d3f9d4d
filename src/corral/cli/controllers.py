"""`corral controller …`: the controllers sharing one database (docs/deployment.md),
and the lines `corral status` shows about them."""

from __future__ import annotations

from typing import Any

import click

from corral.cli.output import echo_json
from corral.client import Client
from corral.model.errors import CorralError


def controllers_of(c: Client) -> dict[str, Any] | None:
    """The election as the controller tells it (None: it has none to tell)."""
    try:
        e = c.controllers()
    except CorralError:  # a controller older than the election, or none to tell
        return None
    return None if e.get("alone") else e


def echo_election(e: dict[str, Any]) -> None:
    leader = e.get("leader")
    if leader:
        click.echo(f"leader      {leader['address']} on {leader['host'] or '?'}, epoch "
                   f"{e['epoch']} (lease {e['lease_s']:g} s, renewed "
                   f"{leader['renewed_s_ago']:.1f} s ago)")
    else:
        click.echo(f"leader      none (epoch {e['epoch']}: the lease lapsed or was given up)")
    followers = [m for m in e.get("controllers", []) if m["role"] == "follower"]
    if followers:
        click.echo("followers   " + ", ".join(
            f"{m['address']} on {m['host']} (heard {m['heartbeat_s_ago']:.1f} s ago"
            f"{_lag(m)})" for m in followers))
    else:
        click.echo("followers   none")


def _lag(m: dict[str, Any]) -> str:
    """How far behind the log a follower's copy is, as `corral status` says it."""
    if m.get("lag_events") is None:
        return ""  # (a controller older than follower reads)
    if not m.get("applied_seq") and m["lag_events"]:
        return "; no copy of the queue"
    if m["lag_events"] == 0:
        return "; up to date with the log"
    behind = f", {m['lag_s']:.1f} s" if m.get("lag_s") is not None else ""
    return f"; {m['lag_events']} event(s){behind} behind"


@click.group("controller")
def controller() -> None:
    """The controllers sharing one database: one leads, the others follow."""


@controller.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def list_controllers(as_json: bool) -> None:
    """The leader, its epoch and its followers (any controller answers)."""
    with Client() as c:
        e = c.controllers()
    if as_json:
        echo_json(e)
        return
    echo_election(e)


@controller.command("step-down")
def step_down() -> None:
    """Hand the lead over to a follower (administrators), e.g. before an upgrade.

    Every write the leader took is stored first; a follower then leads within a
    moment, and this controller starts again as a follower."""
    with Client() as c:
        try:
            out = c.step_down()
        except CorralError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"controller {out['address']} stepped down (epoch {out['epoch']} ended); "
               f"a follower takes over")
