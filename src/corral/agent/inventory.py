"""What this node offers: CPUs, memory, GPUs and features."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

log = logging.getLogger(__name__)

NVIDIA_SMI_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Inventory:
    node: str
    cpus: int
    mem_mb: int
    gpus: int
    features: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "node": self.node,
            "cpus": self.cpus,
            "mem_mb": self.mem_mb,
            "gpus": self.gpus,
            "features": list(self.features),
        }


def detect_cpus() -> int:
    """CPUs this process may run on (its affinity mask), not the machine's total."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def detect_mem_mb() -> int:
    return int(psutil.virtual_memory().total // (1024 * 1024))


def detect_gpus() -> int:
    """Count of `GPU n:` lines from `nvidia-smi -L`; 0 without it or on any error."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, check=False,
                             timeout=NVIDIA_SMI_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi -L failed (%s); reporting 0 GPUs", exc)
        return 0
    if out.returncode != 0:
        log.warning("nvidia-smi -L exited %d; reporting 0 GPUs", out.returncode)
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def parse_features(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """'a,b, c' or ['a', 'b'] -> ('a', 'b', 'c'), without blanks and duplicates."""
    if text is None:
        return ()
    items = text.split(",") if isinstance(text, str) else list(text)
    seen: dict[str, None] = {}
    for raw in items:
        item = raw.strip()
        if item:
            seen[item] = None
    return tuple(seen)


def detect(node: str | None = None, *, cpus: int | None = None, mem_mb: int | None = None,
           gpus: int | None = None, features: str | Iterable[str] | None = None) -> Inventory:
    """This node's inventory; every argument given overrides what is detected."""
    return Inventory(
        node=node or socket.gethostname().split(".")[0],
        cpus=cpus if cpus is not None else detect_cpus(),
        mem_mb=mem_mb if mem_mb is not None else detect_mem_mb(),
        gpus=gpus if gpus is not None else detect_gpus(),
        features=parse_features(features),
    )
