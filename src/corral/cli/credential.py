"""`corral credential`: the sign-ins the controller keeps to renew the tokens of
`--credential` jobs (docs/identity.md)."""

from __future__ import annotations

import time

import click

from corral.cli.output import echo_json
from corral.client import Client


@click.group("credential")
def credential() -> None:
    """The sign-ins the controller renews for --credential jobs."""


@credential.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_credentials(as_json: bool) -> None:
    """The active ones: your own (operators: every user's)."""
    with Client() as c:
        found = c.credentials()
    if as_json:
        echo_json(found)
        return
    if not found:
        click.echo("No credentials")
        return
    now = time.time()
    for cred in found:
        left_s = float(cred["t_access_expires"]) - now
        click.echo(f"{cred['id']:>6}  {cred['user']:<12} {cred['subject']} from "
                   f"{cred['issuer']}  (access token expires in {left_s:.0f} s)")


@credential.command("revoke")
@click.argument("credential_id", type=click.IntRange(1, 2**63 - 1))
def revoke(credential_id: int) -> None:
    """End a credential (its owner or an administrator): its jobs' tokens are
    renewed no more, and the sign-in is revoked at the provider."""
    with Client() as c:
        c.revoke_credential(credential_id)
    click.echo(f"Credential {credential_id} revoked")
