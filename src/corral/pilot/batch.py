"""A site's batch system through its own commands: submit a pilot's script, list the
pilots still there, withdraw one. Slurm (sbatch, squeue, scancel) and Grid Engine
(qsub, qstat, qdel)."""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

COMMAND_TIMEOUT_S = 60.0


class BatchError(Exception):
    """A batch command failed (its first line of output says why)."""


@dataclass(frozen=True, slots=True)
class Request:
    name: str  # the batch job's name
    script: Path
    log: Path  # the pilot's output (stdout and stderr)
    wall_time_s: int
    cpus: int
    mem_mb: int
    options: Sequence[str] = ()


class BatchSystem:
    """What the factory asks of a site's batch system."""

    kind = ""

    def __init__(self, bin_dir: str = "", env: Mapping[str, str] | None = None,
                 prefix: Sequence[str] = ()) -> None:
        self.bin_dir = bin_dir
        self.env = {**os.environ, **(env or {})}
        self.prefix = list(prefix)  # words before each command (ssh host, ip netns exec…)

    def _cmd(self, name: str) -> str:
        return str(Path(self.bin_dir) / name) if self.bin_dir else name

    def _run(self, argv: list[str]) -> str:
        name = argv[0]  # named in errors, whatever the prefix
        argv = [*self.prefix, self._cmd(name), *argv[1:]]
        try:
            proc = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BatchError(f"{name}: {exc}") from None
        if proc.returncode != 0:
            said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise BatchError(f"{name} exited {proc.returncode}: "
                             f"{said[0] if said else 'no output'}")
        return proc.stdout

    def submit(self, req: Request) -> str:
        raise NotImplementedError

    def states(self) -> dict[str, str]:
        """Every job the batch system lists: id -> "pending" or "running"."""
        raise NotImplementedError

    def cancel(self, job_id: str) -> None:
        raise NotImplementedError


class Slurm(BatchSystem):
    kind = "slurm"

    def submit(self, req: Request) -> str:
        minutes = max(1, math.ceil(req.wall_time_s / 60))
        out = self._run(["sbatch", "--parsable", f"--job-name={req.name}",
                         f"--time={minutes}", "--nodes=1", "--ntasks=1",
                         f"--cpus-per-task={req.cpus}", f"--mem={req.mem_mb}",
                         f"--output={req.log}", *req.options, str(req.script)])
        job_id = out.strip().split(";", 1)[0]
        if not job_id.isdigit():
            raise BatchError(f"sbatch: unexpected answer {out.strip()[:100]!r}")
        return job_id

    def states(self) -> dict[str, str]:
        out = self._run(["squeue", "--noheader", "--format=%i %T"])
        found = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2:
                found[parts[0]] = "pending" if parts[1] == "PENDING" else "running"
        return found

    def cancel(self, job_id: str) -> None:
        self._run(["scancel", job_id])


class GridEngine(BatchSystem):
    kind = "sge"

    def submit(self, req: Request) -> str:
        # more than one slot needs a parallel environment: the site's, in its options
        out = self._run(["qsub", "-terse", "-N", req.name, "-l", f"h_rt={req.wall_time_s}",
                         "-o", str(req.log), "-j", "y", "-S", "/bin/sh", *req.options,
                         str(req.script)])
        job_id = out.strip().split(".", 1)[0]
        if not job_id.isdigit():
            raise BatchError(f"qsub: unexpected answer {out.strip()[:100]!r}")
        return job_id

    def states(self) -> dict[str, str]:
        out = self._run(["qstat", "-u", "*"])
        found = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 5 and parts[0].isdigit():
                state = parts[4]
                found[parts[0]] = ("pending" if "q" in state and "r" not in state
                                   else "running")
        return found

    def cancel(self, job_id: str) -> None:
        self._run(["qdel", job_id])


def batch_system(kind: str, bin_dir: str = "", env: Mapping[str, str] | None = None,
                 prefix: Sequence[str] = ()) -> BatchSystem:
    systems: dict[str, type[BatchSystem]] = {"slurm": Slurm, "sge": GridEngine}
    return systems[kind](bin_dir, env, prefix)
