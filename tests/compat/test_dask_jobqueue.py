"""dask-jobqueue's SLURMCluster, SGECluster and LSFCluster on corral (skipped when dask-jobqueue is
not installed). Each runs in its own process with the drop-in commands on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.compat.conftest import Compat

pytest.importorskip("dask_jobqueue",
                    reason="dask-jobqueue is not installed (pip install dask-jobqueue)")

CLIENT = Path(__file__).parent / "tools" / "dask_client.py"
ROOT = str(Path(__file__).resolve().parents[2])


def _run(compat: Compat, kind: str) -> dict[str, Any]:
    env = dict(compat.env, PYTHONPATH=os.pathsep.join([ROOT, *(p for p in sys.path if p)]))
    p = subprocess.run([sys.executable, str(CLIENT), kind], env=env, cwd=compat.work,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-4000:]
    out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def _final_states(compat: Compat, job_ids: list[str]) -> list[str]:
    """Wait (briefly) for the worker jobs to end; their sacct states. (A cancelled
    job is COMPLETING until its agent reports its processes gone.)"""
    deadline = time.monotonic() + 30
    while True:
        rows = compat.out("sacct", "-X", "-n", "-P", "-o", "JobID,State",
                          *[a for j in job_ids for a in ("-j", j)]).splitlines()
        states = [r.split("|")[1] for r in rows]
        if len(states) == len(job_ids) and not any(
                s in ("PENDING", "RUNNING", "COMPLETING") for s in states):
            return states
        assert time.monotonic() < deadline, rows
        time.sleep(0.3)


@pytest.mark.parametrize("kind", ["slurm", "sge", "lsf"])
def test_cluster_scales_up_computes_and_scales_down(compat: Compat, kind: str) -> None:
    seen = _run(compat, kind)
    assert seen["result"] == 42
    assert "stuck" not in seen
    assert seen["workers_after_scale_down"] == 0
    assert len(seen["job_ids"]) == 1
    if kind == "slurm":
        assert "#SBATCH --mem=954M" in seen["script"]
    elif kind == "sge":
        assert "#$ -l h_rt=00:10:00" in seen["script"]
    else:  # bytes in LSF's default unit, KB, as dask-jobqueue writes them
        assert "#BSUB -M 1000000" in seen["script"] and "#BSUB -W 00:10" in seen["script"]
    # no orphan: the worker's job ended (dask cancels it on scale-down)
    states = _final_states(compat, seen["job_ids"])
    assert all(s.startswith(("CANCELLED", "COMPLETED")) for s in states), states
    assert compat.out("squeue", "-h", "-o", "%i %j %T") == ""
    assert compat.out("qstat") == ""
    assert compat.run("bjobs").stdout == ""
