"""`corral compat`: install the Slurm / Grid Engine command names into a directory."""

from __future__ import annotations

from pathlib import Path

import click

from corral.compat.install import COMMANDS, FAMILIES, install


@click.group("compat")
def compat() -> None:
    """Slurm and Grid Engine drop-in commands (sbatch, squeue, …, qsub, qstat, …)."""


@compat.command("install")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--only", type=click.Choice(["all", "slurm", "sge"]), default="all",
              show_default=True, help="Which family of commands.")
@click.option("--force", is_flag=True, help="Replace files that are not corral launchers.")
def install_cmd(directory: Path, only: str, force: bool) -> None:
    """Write launchers named sbatch, squeue, …, qsub, … into DIRECTORY.

    They act only when DIRECTORY is on PATH, e.g. export PATH=DIRECTORY:$PATH.
    """
    names = list(COMMANDS) if only == "all" else FAMILIES[only]
    try:
        paths = install(directory, names, force=force)
    except FileExistsError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"installed {len(paths)} commands in {directory.resolve()}: "
               + " ".join(p.name for p in paths))
    click.echo(f"use them with: export PATH={directory.resolve()}:$PATH")
