"""The DAG manager's job (condor_submit_dag, `corral dag submit`, a DAG JDL): this
interpreter running corral's DAG manager on a DAG file, its log beside the file."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from corral.client import default_url

MANAGER_MODULE = "corral.compat.condor.dagman"
# what a job's environment holds of the job it runs in: not handed on to the nodes
_OWN_JOB = ("SLURM_", "CORRAL_JOB_", "CORRAL_ARRAY_", "CORRAL_STEP_", "CORRAL_NODE",
            "CORRAL_RESTART_COUNT", "CORRAL_SUBMIT_DIR", "CORRAL_DAG_RESCUE",
            "CORRAL_CREDENTIAL_FILE", "CORRAL_AGENT_", "CORRAL_CLUSTER_KEY")


def submit_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """An environment without the variables of the job it may be read in."""
    return {k: v for k, v in environ.items() if not k.startswith(_OWN_JOB)}


def manager_request(path: Path, rescue: bool,
                    environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The manager's job for the DAG file `path`. `environ`: the environment its nodes
    get (a JDL DAG's, as its jobs would have had it); else only what the manager needs."""
    command = shlex.join([sys.executable, "-m", MANAGER_MODULE, str(path)])
    env = submit_environment(environ) if environ is not None else {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update({"CORRAL_URL": default_url(), "CORRAL_DAG_RESCUE": "1" if rescue else "0",
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    return {"name": f"dag-{path.name}"[:200], "working_dir": str(path.parent),
            "script": f"#!/bin/sh\nexec {command}\n", "environment": env,
            "stdout": str(path.with_name(path.name + ".dagman.out")), "cpus_per_node": 1,
            "mem_mb_per_node": 256}
