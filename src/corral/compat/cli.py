"""`corral compat`: install the Slurm / Grid Engine command names into a directory."""

from __future__ import annotations

from pathlib import Path

import click

from corral.client import default_url
from corral.compat.install import COMMANDS, FAMILIES, install


@click.group("compat")
def compat() -> None:
    """Slurm, Grid Engine and LSF drop-in commands (sbatch, …, qsub, …, bsub, …)."""


@compat.command("install")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--only", type=click.Choice(["all", *FAMILIES]), default="all",
              show_default=True, help="Which family of commands.")
@click.option("--force", is_flag=True, help="Replace files that are not corral launchers.")
@click.option("--url", help="The controller they talk to: unix:///PATH, http://HOST:PORT or "
              "https://HOST:PORT (default: the one this command would talk to).")
def install_cmd(directory: Path, only: str, force: bool, url: str | None) -> None:
    """Write launchers named sbatch, squeue, …, qsub, …, bsub, … into DIRECTORY.

    They act only when DIRECTORY is on PATH, e.g. export PATH=DIRECTORY:$PATH.
    They reach the controller they were installed for in any environment.
    """
    names = list(COMMANDS) if only == "all" else FAMILIES[only]
    if url is not None and not url.startswith(("unix:///", "http://", "https://")):
        raise click.BadParameter(f"{url!r} is not unix:///PATH, http://HOST:PORT or "
                                 f"https://HOST:PORT", param_hint="--url")
    try:
        paths = install(directory, names, force=force, url=url)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"installed {len(paths)} commands in {directory.resolve()}: "
               + " ".join(p.name for p in paths))
    click.echo(f"they talk to the controller at {url or default_url()}")
    click.echo(f"use them with: export PATH={directory.resolve()}:$PATH")
