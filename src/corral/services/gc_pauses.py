"""The interpreter's pauses for its cyclic garbage collector, logged.

A collection of the oldest generation walks every object the controller holds (a
queue of tens of thousands of jobs is millions of them) without letting any
other thread run: the lease renewer and its watchdog (services/leader.py) wait
for it too. Each collection slower than `WARN_S` is logged as a warning, every
other oldest-generation one at DEBUG, so that a leader that lost its lease on a
loaded machine says whether a collection held it up.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

log = logging.getLogger("corral.gc")

WARN_S = 0.5


class _Watch:
    def __init__(self) -> None:
        self.t_start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.t_start = time.monotonic()
            return
        took_s = time.monotonic() - self.t_start
        generation = int(info.get("generation", 0))
        if took_s > WARN_S:
            log.warning("garbage collection of generation %d held every thread for "
                        "%.3f s (%d collected)", generation, took_s,
                        int(info.get("collected", 0)))
        elif generation == 2:
            log.debug("garbage collection of generation 2 took %.3f s", took_s)


_watch = _Watch()


def watch() -> None:
    """Log the collector's pauses from now on (once per process)."""
    if _watch not in gc.callbacks:
        gc.callbacks.append(_watch)
