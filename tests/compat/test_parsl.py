"""Parsl's SlurmProvider with the SrunLauncher on corral (skipped when Parsl is not
installed). The client runs in its own process with the drop-in commands on PATH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.compat.conftest import Compat

pytest.importorskip("parsl", reason="Parsl is not installed (pip install parsl)")

CLIENT = Path(__file__).parent / "tools" / "parsl_client.py"
ROOT = str(Path(__file__).resolve().parents[2])


def test_slurm_provider_runs_an_app_and_cleans_up(compat: Compat) -> None:
    env = dict(compat.env, PYTHONPATH=os.pathsep.join([ROOT, *(p for p in sys.path if p)]))
    p = subprocess.run([sys.executable, str(CLIENT)], env=env, cwd=compat.work,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-4000:]
    seen = json.loads(p.stdout.strip().splitlines()[-1])
    [job_id] = seen["job_ids"]
    # the app ran inside the block's job, as task 0 of the srun step
    assert seen["result"] == [42, job_id, "0"]
    assert seen["status_cmd"].startswith("sacct -X --noheader")  # sacct works
    assert seen["status_running"] == ["JobState.RUNNING"]
    assert seen["status_after"] == ["JobState.CANCELLED"]
    deadline = time.monotonic() + 30
    while compat.out("squeue", "-h", "-j", job_id, "-o", "%T").strip() not in ("", "CANCELLED"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert compat.out("squeue", "-h") == ""
