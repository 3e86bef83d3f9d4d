"""`corral login`, `corral logout`, `corral whoami`: tokens for a remote controller
(CORRAL_URL=https://HOST:PORT), docs/identity.md."""

from __future__ import annotations

import click

from corral.cli.output import echo_json
from corral.client import Client, default_url
from corral.client.transport import is_remote


def _remote_url() -> str:
    url = default_url()
    if not is_remote(url):
        raise click.ClickException(
            f"the controller is {url}, on this host: it knows you without a login "
            f"(set CORRAL_URL=https://HOST:PORT for a remote one)")
    return url


@click.command("login")
@click.option("--issuer", help="The identity provider to sign in with (default: the "
                               "controller's first).")
def login(issuer: str | None) -> None:
    """Sign in with the device flow: open the URL shown, on any device, and enter
    the code. The tokens are kept for this controller in
    $XDG_CONFIG_HOME/corral/tokens.json (mode 0600) and renewed when they expire."""
    from corral.client import oauth, tokens
    url = _remote_url()
    tokens.check_channel(url)
    options = tokens.login_options(url, issuer)
    client_id = options.get("client_id")
    if not client_id:
        raise click.ClickException(f"issuer {options['issuer']}: the controller names no "
                                   f"client for logins (auth.issuers.client_id)")
    provider = oauth.discover(str(options["issuer"]))
    resource = options.get("resource")
    code = oauth.start_device_flow(provider, str(client_id), list(options.get("scopes") or []),
                                   resource)
    click.echo(f"To sign in, open {code.verification_uri} and enter the code "
               f"{code.user_code}")
    if code.verification_uri_complete:
        click.echo(f"(or open {code.verification_uri_complete})")
    click.echo(f"Waiting for the sign-in (the code expires in {code.expires_in_s:.0f} s)...")
    answer = oauth.poll_device_flow(provider, str(client_id), code, resource)
    tokens.save_login(url, answer, issuer=provider.issuer, client_id=str(client_id),
                      token_endpoint=provider.token_endpoint, resource=resource)
    with Client(url) as c:
        me = c.whoami()
    click.echo(f"Logged in to {url} as {me['user']} (uid {me['uid']})")


@click.command("logout")
@click.option("--revoke", is_flag=True,
              help="Also end the sign-in handed to the controller for --credential jobs: "
                   "their tokens are renewed no more.")
def logout(revoke: bool) -> None:
    """Forget this controller's tokens (and revoke the sign-in at the provider). A
    sign-in handed over for --credential jobs stays with the controller, which goes
    on renewing their tokens, unless --revoke."""
    from corral.client import oauth, tokens
    url = _remote_url()
    entry = tokens.forget(url)
    if entry is None:
        click.echo(f"Not logged in to {url}")
        return
    if isinstance(entry.get("credential"), dict):
        if revoke:
            tokens.revoke_handed_over(url, entry)
            click.echo(f"Revoked the sign-in {url} renewed for your --credential jobs")
        else:
            click.echo(f"The sign-in handed over for --credential jobs stays with {url} "
                       f"(credential {entry['credential'].get('id')}; 'corral logout "
                       f"--revoke' or 'corral credential revoke' ends it)")
    refresh_token = entry.get("refresh_token")
    if isinstance(refresh_token, str) and entry.get("issuer"):
        oauth.revoke(str(entry["issuer"]), str(entry.get("client_id", "")), refresh_token)
    click.echo(f"Logged out of {url}")


@click.command("whoami")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def whoami(as_json: bool) -> None:
    """Show who the controller takes you for."""
    with Client() as c:
        me = c.whoami()
    if as_json:
        echo_json(me)
        return
    line = f"{me['user']} (uid {me['uid']}, gid {me['gid']}), {me['role']}"
    if me.get("via") == "token":
        line += f", token from {me['issuer']} (subject {me['subject']})"
    elif me.get("via") == "relay":
        line += f", through the relay {me['relay']}"
    else:
        line += ", by the Unix socket"
    if me.get("groups"):
        line += f"; groups {', '.join(me['groups'])}"
    click.echo(line)
