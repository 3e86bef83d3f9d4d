"""snakemake-executor-plugin-slurm's own test suite, from its sdist, against corral.

Opt-in: set SNAKEMAKE_SLURM_PLUGIN_SDIST to the sdist (.tar.gz) or its unpacked
directory, e.g. after
    pip download --no-deps --no-binary :all: snakemake-executor-plugin-slurm==2.8.0
Runs every test but the workflow runs (~190 unit tests, ~10 s) and, in a ~2 minute
budget, three workflow tests on the real cluster: the simple workflow and both
array-job testcases. The other 17 workflow tests (the simple and group workflows
under other settings) pass too, ~30-70 s each (~13 min in all): not run here.
Snakemake may run from its own environment (see tools/snakemake_env.py).
Memory requests below 500 MB are raised to 500 MB (tools/snakemake_mem_floor.py):
the testcases ask 1-5 MB, which only a Slurm that does not enforce memory tolerates.
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.compat.conftest import Compat
from tests.compat.tools import snakemake_env

SDIST = os.environ.get("SNAKEMAKE_SLURM_PLUGIN_SDIST")
PYTHON = snakemake_env.python("pytest") if SDIST else None
pytestmark = [
    pytest.mark.skipif(not SDIST, reason="set SNAKEMAKE_SLURM_PLUGIN_SDIST to the plugin's "
                       "sdist to run its test suite (pip download --no-deps --no-binary "
                       ":all: snakemake-executor-plugin-slurm)"),
    pytest.mark.skipif(bool(SDIST) and PYTHON is None,
                       reason="snakemake, the Slurm plugin and pytest are not installed "
                       f"(here, or in the environment of ${snakemake_env.VAR})"),
]
TOOLS = Path(__file__).parent / "tools"

WORKFLOWS = ("tests/tests.py::TestWorkflows::test_simple_workflow",
             "tests/tests.py::TestArrayJobsAll::test_array_jobs_all",
             "tests/tests.py::TestArrayJobsAllWithLimit::test_array_jobs_all_with_limit")


@pytest.fixture(scope="module")
def src(compat: Compat) -> Path:
    path = Path(str(SDIST))
    if path.is_dir():
        return path
    with tarfile.open(path) as tar:
        tar.extractall(compat.work / "sdist", filter="data")
    [top] = (compat.work / "sdist").iterdir()
    return top


def _pytest(compat: Compat, src: Path, name: str, *args: str,
            floor: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(compat.env, PYTHONPATH=os.pathsep.join([str(TOOLS), str(src)]))
    plugin = ["-p", "snakemake_mem_floor"] if floor else []
    return subprocess.run(
        [str(PYTHON), "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin,
         "--basetemp", str(compat.work / f"pytest-{name}"), *args],
        env=env, cwd=src, capture_output=True, text=True, timeout=170)


def test_plugin_unit_tests(compat: Compat, src: Path) -> None:
    units = sorted(str(p.relative_to(src)) for p in (src / "tests").glob("test_*.py"))
    # every test but the workflow runs (*_workflow, test_array_jobs_all*)
    p = _pytest(compat, src, "units", *units, "tests/tests.py",
                "-k", "not _workflow and not test_array_jobs_all")
    assert p.returncode == 0, p.stdout[-4000:]
    assert re.search(r"\b(1[5-9]\d|[2-9]\d\d) passed", p.stdout), p.stdout[-2000:]


def test_plugin_workflow_tests_on_corral(compat: Compat, src: Path) -> None:
    p = _pytest(compat, src, "workflows", *WORKFLOWS, floor=True)
    assert p.returncode == 0, p.stdout[-6000:]
    assert "3 passed" in p.stdout
