"""`corral account`: associations — accounts in a tree with shares, the users allowed
each account, limits and QOS (docs/accounting.md). Changes are administrators'."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from corral.cli.output import echo_json, table
from corral.client import Client
from corral.model.errors import InvalidRequest
from corral.model.units import UNLIMITED_S, format_duration_s, parse_duration_s

F = Callable[..., Any]


def _limit_options(f: F) -> F:
    for opt in reversed([
        click.option("--max-jobs", type=int, default=None,
                     help="Jobs of a user in the account running at once (-1: clear)."),
        click.option("--max-cpus", type=int, default=None, help="CPUs per job (-1: clear)."),
        click.option("--max-gpus", type=int, default=None, help="GPUs per job (-1: clear)."),
        click.option("--max-wall", default=None,
                     help="Time limit per job, [D-]HH:MM:SS (-1: clear)."),
        click.option("--qos", default=None, help="Comma-separated QOS allowed ('' : any)."),
        click.option("--default-qos", default=None, help="QOS of jobs that name none."),
        click.option("--shares", type=click.IntRange(0, 1_000_000_000), default=None,
                     help="Fair-share shares among its siblings."),
    ]):
        f = opt(f)
    return f


def _fields(max_jobs: int | None, max_cpus: int | None, max_gpus: int | None,
            max_wall: str | None, qos: str | None, default_qos: str | None,
            shares: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in (("max_jobs", max_jobs), ("max_cpus", max_cpus),
                        ("max_gpus", max_gpus)):
        if value is not None:
            if value < -1:
                raise click.BadParameter(f"{value} is below -1 (-1 clears the limit)",
                                         param_hint=f"--{name.replace('_', '-')}")
            out[name] = None if value == -1 else value
    if max_wall is not None:
        if max_wall.strip() == "-1":
            out["max_wall_s"] = None
        else:
            try:
                s = parse_duration_s("max_wall", max_wall)
            except InvalidRequest as e:
                raise click.BadParameter(str(e), param_hint="--max-wall") from None
            out["max_wall_s"] = None if s == UNLIMITED_S else s
    if qos is not None:
        out["qos"] = [q for q in qos.split(",") if q]
    if default_qos is not None:
        out["default_qos"] = default_qos or None
    if shares is not None:
        out["shares"] = shares
    return out


@click.group("account")
def account() -> None:
    """Accounts, users' associations with them, and QOS (changes: administrators)."""


@account.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(as_json: bool) -> None:
    """The account tree, each account's users, and the QOS."""
    with Client() as c:
        data = c.associations()
    if as_json:
        echo_json(data)
        return
    users: dict[str, list[dict[str, Any]]] = {}
    for a in data["associations"]:
        users.setdefault(a["account"], []).append(a)
    rows = []
    for acc in data["accounts"]:
        rows.append(["  " * acc["depth"] + acc["name"], "", acc["shares"], _limits(acc),
                     ",".join(acc["qos"])])
        rows += [["  " * (acc["depth"] + 1) + "-", u["user"], u["shares"], _limits(u),
                  ",".join(u["qos"])] for u in users.get(acc["name"], [])]
    table(["ACCOUNT", "USER", "SHARES", "LIMITS", "QOS"], rows)
    defaults = ", ".join(f"{u['name']}={u['default_account']}" for u in data["users"])
    if defaults:
        click.echo(f"default accounts: {defaults}")
    if not data["enforced"]:
        click.echo("associations are not enforced at submit")


def _limits(a: dict[str, Any]) -> str:
    parts = [f"{k}={a[f'max_{k}']}" for k in ("jobs", "cpus", "gpus")
             if a[f"max_{k}"] is not None]
    if a["max_wall_s"] is not None:
        parts.append(f"wall={format_duration_s(a['max_wall_s'])}")
    return ",".join(parts)


@account.command("shares")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def shares(as_json: bool) -> None:
    """Shares, decayed usage (CPU-seconds) and fair-share factor down the tree."""
    with Client() as c:
        rows = c.shares()
    if as_json:
        echo_json({"shares": rows})
        return
    table(["ACCOUNT", "USER", "SHARES", "NORM", "USAGE_CPU_S", "EFFECTIVE", "FAIRSHARE"],
          [["  " * r["depth"] + r["account"], r["user"], int(r["raw_shares"]),
            f"{r['norm_shares']:.4f}", round(r["raw_usage"]), f"{r['effective_usage']:.4f}",
            f"{r['fairshare']:.4f}"] for r in rows])


@account.command("add")
@click.argument("name")
@click.option("--parent", default=None, help="Parent account (default: root).")
@click.option("--description", default=None)
@click.option("--organization", default=None)
@_limit_options
def add(name: str, parent: str | None, description: str | None, organization: str | None,
        **limits: Any) -> None:
    """Add an account."""
    body = {k: v for k, v in (("parent", parent), ("description", description),
                              ("organization", organization)) if v is not None}
    with Client() as c:
        c.change_association("POST", "accounts",
                             body={"name": name, **body, **_fields(**limits)})
    click.echo(f"account {name} added")


@account.command("modify")
@click.argument("name")
@click.option("--parent", default=None, help="Move it under this account.")
@click.option("--description", default=None)
@click.option("--organization", default=None)
@_limit_options
def modify(name: str, parent: str | None, description: str | None, organization: str | None,
           **limits: Any) -> None:
    """Change an account."""
    body = {k: v for k, v in (("parent", parent), ("description", description),
                              ("organization", organization)) if v is not None}
    body.update(_fields(**limits))
    if not body:
        raise click.UsageError("nothing to change (see --help)")
    with Client() as c:
        c.change_association("PATCH", "accounts", name, body=body)
    click.echo(f"account {name} modified")


@account.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Delete an account (and its users' associations with it)."""
    with Client() as c:
        c.change_association("DELETE", "accounts", name)
    click.echo(f"account {name} deleted")


@account.command("add-user")
@click.argument("user")
@click.option("--account", "accounts", required=True,
              help="Comma-separated accounts the user may use.")
@click.option("--default-account", default=None, help="Default: the first given.")
@_limit_options
def add_user(user: str, accounts: str, default_account: str | None, **limits: Any) -> None:
    """Let a user use accounts."""
    names = [a for a in accounts.split(",") if a]
    with Client() as c:
        c.change_association("POST", "users", body={
            "name": user, "accounts": names, "default_account": default_account,
            **_fields(**limits)})
    click.echo(f"user {user}: accounts {', '.join(names)}")


@account.command("modify-user")
@click.argument("user")
@click.option("--account", default=None, help="Change only this association.")
@click.option("--default-account", default=None)
@_limit_options
def modify_user(user: str, account: str | None, default_account: str | None,
                **limits: Any) -> None:
    """Change a user's default account or associations."""
    body = _fields(**limits)
    if default_account is not None:
        body["default_account"] = default_account
    if not body:
        raise click.UsageError("nothing to change (see --help)")
    if account is not None:
        body["account"] = account
    with Client() as c:
        c.change_association("PATCH", "users", user, body=body)
    click.echo(f"user {user} modified")


@account.command("remove-user")
@click.argument("user")
@click.option("--account", default=None, help="Only from this account (default: all).")
def remove_user(user: str, account: str | None) -> None:
    """Remove a user's associations."""
    with Client() as c:
        c.change_association("DELETE", "users", user,
                             query={"account": account} if account else None)
    click.echo(f"user {user} removed" + (f" from {account}" if account else ""))


@account.command("add-qos")
@click.argument("name")
@click.option("--priority", type=click.IntRange(0, 1_000_000_000), default=None)
@click.option("--max-wall", default=None, help="Time limit per job, [D-]HH:MM:SS.")
@click.option("--max-jobs-per-user", type=click.IntRange(0), default=None)
@click.option("--max-cpus-per-user", type=click.IntRange(0), default=None)
@click.option("--description", default=None)
def add_qos(name: str, priority: int | None, max_wall: str | None,
            max_jobs_per_user: int | None, max_cpus_per_user: int | None,
            description: str | None) -> None:
    """Define a QOS at run time."""
    body: dict[str, Any] = {"name": name}
    for k, v in (("priority", priority), ("max_jobs_per_user", max_jobs_per_user),
                 ("max_cpus_per_user", max_cpus_per_user), ("description", description)):
        if v is not None:
            body[k] = v
    if max_wall is not None:
        body["max_wall_s"] = _fields(None, None, None, max_wall, None, None, None)["max_wall_s"]
    with Client() as c:
        c.change_association("POST", "qos", body=body)
    click.echo(f"qos {name} added")


@account.command("delete-qos")
@click.argument("name")
def delete_qos(name: str) -> None:
    """Delete a QOS defined at run time (not one in use)."""
    with Client() as c:
        c.change_association("DELETE", "qos", name)
    click.echo(f"qos {name} deleted")
