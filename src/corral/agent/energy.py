"""Energy from the node's counters: RAPL through the kernel's powercap interface.

Each package domain (`/sys/class/powercap/intel-rapl:N`, the AMD driver uses the
same names) has a cumulative `energy_uj` counter that wraps at
`max_energy_range_uj`. A job's energy is what the counters of every package advanced
between its start and its end: the node's, so on a shared node it includes its
neighbours' (as Slurm's acct_gather_energy/rapl counts). Sub-domains (`…:N:M`: cores,
uncore, DRAM inside a package) are parts of their package and are not added again.
No counter (a virtual machine, no permission): the energy is unknown, None — never 0.
CORRAL_POWERCAP_ROOT points the reader at another tree (tests, containers).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = "/sys/class/powercap"
_PACKAGE = re.compile(r"^[a-z-]+-rapl:\d+$")

# domain -> (counter in µJ, the value it wraps at)
Counters = dict[str, tuple[int, int]]


def root() -> Path:
    return Path(os.environ.get("CORRAL_POWERCAP_ROOT") or ROOT)


def read_counters(base: Path | None = None) -> Counters | None:
    """Every package domain's counter now; None where there is none to read."""
    base = base or root()
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return None
    out: Counters = {}
    for name in names:
        if not _PACKAGE.match(name):
            continue
        try:
            value = int((base / name / "energy_uj").read_text().strip())
            wrap = int((base / name / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError):
            continue
        out[name] = (value, wrap)
    return out or None


def joules_between(start: Counters | None, end: Counters | None) -> float | None:
    """What the counters present at both ends advanced, in joules (a counter that
    went down wrapped once at its range); None if either end is unknown."""
    if not start or not end:
        return None
    total_uj = 0
    for name, (v0, wrap) in start.items():
        if name not in end:
            return None
        v1 = end[name][0]
        total_uj += v1 - v0 if v1 >= v0 else (wrap - v0) + v1
    return total_uj / 1e6
