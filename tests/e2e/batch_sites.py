"""Real batch systems on this machine for the pilot tests (docs/pilots.md): a private
one-node Slurm and a private Grid Engine cell, from Debian's packages, on loopback
with free ports, every file under a directory of their own (as ../shared/peers sets
them up), each started through a command prefix of its own (`ip netns exec NS`: its
daemons in that network namespace, on its loopback). tests/e2e/data/sites/{slurm,sge}.sh
do the work."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data" / "sites"
SLURM_PROGRAMS = ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "munged")
SGE_PROGRAMS = ("/usr/sbin/sge_qmaster", "/usr/sbin/sge_execd", "qsub", "qstat", "qdel",
                "qconf")


def missing_programs() -> list[str]:
    """The Slurm and Grid Engine programs this machine lacks (scripts/install-test-deps
    installs them)."""
    return [p for p in (*SLURM_PROGRAMS, *SGE_PROGRAMS)
            if not (os.access(p, os.X_OK) if p.startswith("/") else shutil.which(p))]


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class BatchSite:
    kind: str  # slurm | sge
    root: Path
    env: dict[str, str]  # what its commands need
    cell: str = ""
    prefix: tuple[str, ...] = ()  # words before its commands (`ip netns exec NS`)
    ports: tuple[int, ...] = ()  # its daemons' TCP ports (on the loopback they see)

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix, *argv], env={**os.environ, **self.env},
                              capture_output=True, text=True, timeout=60)

    def queue(self) -> dict[str, str]:
        """The batch system's jobs now: id -> its name (Slurm) or state (SGE)."""
        if self.kind == "slurm":
            out = self.run("squeue", "--noheader", "--format=%i %j").stdout
        else:
            out = self.run("qstat", "-u", "*").stdout
        found = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].isdigit():
                found[parts[0]] = parts[1] if self.kind == "slurm" else parts[4]
        return found

    def script(self) -> str:
        return str(DATA / f"{self.kind}.sh")

    def up(self, what: str, timeout_s: float, *args: str) -> BatchSite:
        """Runs `KIND.sh up ROOT ARGS...` through the prefix; stops what it started and
        raises naming `what` when it fails."""
        proc = subprocess.run([*self.prefix, self.script(), "up", str(self.root), *args],
                              capture_output=True, text=True, timeout=timeout_s)
        if proc.returncode != 0:
            self.down()
            raise AssertionError(f"{what} did not start: {proc.stderr}{proc.stdout}")
        return self

    def down(self) -> None:
        args = [self.script(), "down", str(self.root)] + ([self.cell] if self.cell else [])
        subprocess.run(args, capture_output=True, timeout=120)


def slurm_site(root: Path, cpus: int, prefix: tuple[str, ...] = ()) -> BatchSite:
    ctld, slurmd = free_ports(2)
    root.mkdir(parents=True, exist_ok=True)
    site = BatchSite("slurm", root, {"SLURM_CONF": str(root / "etc" / "slurm.conf")},
                     prefix=prefix, ports=(ctld, slurmd))
    return site.up("slurm", 120, str(ctld), str(slurmd), str(cpus))


def sge_site(root: Path, slots: int, prefix: tuple[str, ...] = ()) -> BatchSite:
    qmaster, execd = free_ports(2)
    cell = f"corral{secrets.token_hex(3)}"
    root.mkdir(parents=True, exist_ok=True)
    site = BatchSite("sge", root, {"SGE_ROOT": "/var/lib/gridengine", "SGE_CELL": cell,
                                   "SGE_QMASTER_PORT": str(qmaster),
                                   "SGE_EXECD_PORT": str(execd)}, cell=cell,
                     prefix=prefix, ports=(qmaster, execd))
    return site.up("grid engine", 180, cell, str(qmaster), str(execd), str(slots))
