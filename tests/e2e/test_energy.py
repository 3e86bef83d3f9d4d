"""A job's energy end to end: the agent reads a powercap tree whose counters the job
itself advances (one of them wrapping); without counters the energy is unknown."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.agent.test_energy import WRAP, tree
from tests.e2e.cluster import make_cluster


def test_the_job_record_carries_the_joules(tmp_path: Path) -> None:
    power = tree(tmp_path / "powercap", {"intel-rapl:0": 1_000_000,
                                         "intel-rapl:1": WRAP - 328_850})
    power.chmod(0o755)
    root = Path(tempfile.mkdtemp(prefix="corral-energy-"))
    root.chmod(0o755)
    c = make_cluster(root, cpus=2, env_extra={"CORRAL_POWERCAP_ROOT": str(power)})
    try:
        script = (f"#!/bin/sh\necho 3500000 > {power}/intel-rapl:0/energy_uj\n"
                  f"echo 1000000 > {power}/intel-rapl:1/energy_uj\n")
        (tmp_path / "job.sh").write_text(script)
        job_id = int(c.corral("submit", "--parsable", "-o", "/dev/null",
                              str(tmp_path / "job.sh")).stdout)
        job = c.wait(job_id)
        assert job["state"] == "COMPLETED", job
        assert job["energy_j"] == 3.82885  # 2.5 J, and 1.32885 J across the wrap
        p = subprocess.run([sys.executable, "-m", "corral.compat.slurm.sacct", "-j",
                            str(job_id), "-X", "-n", "-P", "-o",
                            "JobID,ConsumedEnergyRaw,ConsumedEnergy"],
                           env=c.env, capture_output=True, text=True, timeout=60)
        assert p.stdout == f"{job_id}|3|3\n", p.stderr
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def test_without_counters_the_energy_is_empty(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="corral-energy-"))
    root.chmod(0o755)
    c = make_cluster(root, cpus=2, env_extra={"CORRAL_POWERCAP_ROOT": str(tmp_path / "none")})
    try:
        job_id = int(c.corral("submit", "--parsable", "-o", "/dev/null", "--wrap",
                              "true").stdout)
        job = c.wait(job_id)
        assert job["state"] == "COMPLETED" and job["energy_j"] is None, job
        p = subprocess.run([sys.executable, "-m", "corral.compat.slurm.sacct", "-j",
                            str(job_id), "-X", "-n", "-P", "-o", "JobID,ConsumedEnergy"],
                           env=c.env, capture_output=True, text=True, timeout=60)
        assert p.stdout == f"{job_id}|\n", p.stderr
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)
