"""Real third-party Slurm clients against the drop-in commands (skipped if absent)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.compat.conftest import Compat


def test_submitit_single_job_and_array(compat: Compat) -> None:
    pytest.importorskip("submitit")
    code = textwrap.dedent("""
        import submitit
        ex = submitit.AutoExecutor(folder="submitit-logs/%j")
        assert ex.cluster == "slurm", ex.cluster
        ex.update_parameters(timeout_min=5, cpus_per_task=1)
        job = ex.submit(pow, 2, 10)
        print(job.result())
        jobs = ex.map_array(pow, [2, 3], [2, 2])
        print([j.result() for j in jobs])
    """)
    env = dict(compat.env, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    p = subprocess.run([sys.executable, "-c", code], env=env, cwd=compat.work,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[:2] == ["1024", "[4, 9]"]
