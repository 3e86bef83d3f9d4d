"""A pytest plugin for running snakemake-executor-plugin-slurm's own test suite on
corral (`-p tests.compat.tools.snakemake_mem_floor`).

The upstream testcases ask for 1-5 MB of memory (`--mem 1`, `mem="5MB"`) for jobs
that run a whole Python/Snakemake process: fine on the plugin's CI Slurm, which does
not enforce memory, fatal on corral, which does (OUT_OF_MEMORY). This plugin raises
every `--mem`/`--mem-per-cpu` request below FLOOR_MB to FLOOR_MB in the plugin's
sbatch call; nothing else is changed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

FLOOR_MB = 500


def floor_mem(call: str) -> str:
    def up(m: re.Match[str]) -> str:
        return f"{m.group(1)}{max(int(m.group(2)), FLOOR_MB)}"
    return re.sub(r"(--mem(?:-per-cpu)?[\s=]+)(\d+)\b", up, call)


def pytest_configure(config: Any) -> None:
    import snakemake_executor_plugin_slurm as plugin

    for name in ("get_submit_command", "apply_mem_fudge"):  # single jobs, arrays
        setattr(plugin, name, _floored(getattr(plugin, name)))


def _floored(original: Callable[..., str]) -> Callable[..., str]:
    def call(*args: Any, **kwargs: Any) -> str:
        return floor_mem(original(*args, **kwargs))
    return call
