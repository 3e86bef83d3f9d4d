"""The sample trace shipped with corral: the README's `corral sim` works from a
fresh install, on a real log whose attribution travels with it."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from corral.sim.cli import SAMPLE_TRACE

from .conftest import KTH

REPO = Path(__file__).resolve().parents[2]


def test_the_readmes_sim_example_runs_as_written() -> None:
    readme = (REPO / "README.md").read_text()
    examples = [m.group(1) for m in re.finditer(r"^(corral sim\b[^#\n]*)", readme, re.M)]
    assert examples, "the README shows corral sim"
    for line in examples:
        args = line.split()[1:]
        proc = subprocess.run([sys.executable, "-m", "corral.cli", *args, "--json"],
                              capture_output=True, text=True, timeout=120, cwd="/")
        assert proc.returncode == 0, (line, proc.stderr)
        assert json.loads(proc.stdout)["jobs"] == 500


def test_the_sample_is_the_head_of_the_kth_log_with_its_header() -> None:
    with gzip.open(SAMPLE_TRACE, "rt") as fh:
        text = fh.read()
    assert "; Acknowledge: Lars Malinowsky" in text
    assert "Parallel Workloads Archive" in (SAMPLE_TRACE.parent / "README.md").read_text()
    records = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(";")]
    assert len(records) == 500
    if KTH.exists():
        with gzip.open(KTH, "rt") as fh:
            full = [ln for ln in fh.read().splitlines() if ln.strip() and not ln.startswith(";")]
        assert records == full[:500]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "sim/data/*.swf.gz" in pyproject["tool"]["setuptools"]["package-data"]["corral"]


def test_the_readme_says_which_python() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    needed = pyproject["project"]["requires-python"].removeprefix(">=")
    assert f"Python {needed} or newer" in (REPO / "README.md").read_text()
