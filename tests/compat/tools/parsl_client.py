"""Run by tests/compat/test_parsl.py with the drop-in commands on PATH: Parsl's
HighThroughputExecutor on a SlurmProvider with the SrunLauncher runs an app, then
shuts down; prints what it saw as one JSON line."""

from __future__ import annotations

import json
from typing import Any

import parsl
from parsl import python_app
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.launchers import SrunLauncher
from parsl.providers import SlurmProvider


@python_app
def where(x: int) -> tuple[int, str | None, str | None]:
    import os
    return x * 2, os.environ.get("SLURM_JOB_ID"), os.environ.get("SLURM_PROCID")


def main() -> None:
    out: dict[str, Any] = {}
    provider = SlurmProvider(nodes_per_block=1, init_blocks=1, min_blocks=0, max_blocks=1,
                             walltime="00:10:00", launcher=SrunLauncher(), cmd_timeout=30)
    config = Config(executors=[HighThroughputExecutor(
        label="corral", address="127.0.0.1", loopback_address="127.0.0.1",
        max_workers_per_node=1, provider=provider,
    )], run_dir="parsl-runinfo", strategy="none")
    with parsl.load(config):
        out["result"] = list(where(21).result(timeout=90))
        out["job_ids"] = list(provider.resources)
        out["status_cmd"] = provider._cmd  # sacct (or squeue when sacct fails)
        out["status_running"] = [str(s.state) for s in provider.status(out["job_ids"])]
    out["status_after"] = [str(s.state) for s in provider.status(out["job_ids"])]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
