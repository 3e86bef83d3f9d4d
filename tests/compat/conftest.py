"""A real corral plus the installed drop-in commands, shared per test module."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import corral
from tests.e2e.cluster import Cluster, make_cluster

SRC = str(Path(corral.__file__).resolve().parent.parent)


@dataclass
class Compat:
    cluster: Cluster
    bin: Path
    work: Path

    @property
    def env(self) -> dict[str, str]:
        env = dict(self.cluster.env)
        env["PATH"] = f"{self.bin}:{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def run(self, *args: str, input: str | None = None, rc: int | None = 0,
            env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run an installed command by name (found on PATH, as a user's tool would)."""
        proc = subprocess.run(list(args), env={**self.env, **(env or {})}, cwd=self.work,
                              capture_output=True, text=True, input=input, timeout=timeout)
        assert "Traceback" not in proc.stderr, proc.stderr
        if rc is not None:
            assert proc.returncode == rc, (args, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def out(self, *args: str, input: str | None = None) -> str:
        return self.run(*args, input=input).stdout


@pytest.fixture(scope="module")
def compat() -> Iterator[Compat]:
    root = Path(tempfile.mkdtemp(prefix="corral-compat-"))
    root.chmod(0o755)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = SRC  # the controller and agent run this checkout's code
    try:
        # tools' jobs that requeue themselves ignore SIGTERM while they ask for it (as
        # submitit's do): their `scontrol requeue` must answer within the kill grace
        # on a loaded machine too (Slurm's KillWait is 30 s)
        cluster = make_cluster(root, cpus=4, kill_grace_s=5)
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
    try:
        cluster.corral("compat", "install", str(root / "bin"))
        work = root / "work"
        work.mkdir()
        work.chmod(0o777)
        yield Compat(cluster, root / "bin", work)
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)
