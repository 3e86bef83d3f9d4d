"""Where the Snakemake tests find Snakemake.

snakemake 9.27 pins sqlmodel 0.0.37, which wants SQLAlchemy < 2.1; corral pins
SQLAlchemy 2.1. So Snakemake may live in a virtual environment of its own: point
CORRAL_TEST_SNAKEMAKE_PYTHON at that environment's python (with snakemake and
snakemake-executor-plugin-slurm installed). The drop-in commands are bound to
corral's interpreter, so the two never share an import path. Without the variable,
the interpreter running the tests is used if it has them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VAR = "CORRAL_TEST_SNAKEMAKE_PYTHON"


def python(*also: str) -> str | None:
    """The interpreter that has snakemake + the Slurm plugin (+ `also`), or None."""
    exe = os.environ.get(VAR) or sys.executable
    modules = ", ".join(["snakemake", "snakemake_executor_plugin_slurm", *also])
    try:
        ok = subprocess.run([exe, "-c", f"import {modules}"],
                            capture_output=True, timeout=60).returncode == 0
    except OSError:
        return None
    return exe if ok else None


def snakemake_command(exe: str) -> list[str]:
    script = Path(exe).parent / "snakemake"
    return [str(script)] if script.exists() else [exe, "-m", "snakemake"]
