"""Freed memory handed back to the system after the read model drops renderings.

A burst of submissions renders every new job's JSON (about 1.2 KB each, more with an
environment) and, a quarter of a second later, packs and frees them
(services/packs.py). The C allocator keeps what was freed for its next requests, so
the controller's resident memory stays at the burst's peak although its jobs now
take a tenth of it. `release()` asks the allocator to give the free pages back
(glibc's malloc_trim: pages wholly free in any of its arenas, not only at the top of
the heap); elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

RELEASE_AFTER_B = 1 << 20  # renderings dropped since the last release worth one


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    trim.argtypes = [ctypes.c_size_t]  # type: ignore[attr-defined]
    trim.restype = ctypes.c_int  # type: ignore[attr-defined]
    return trim


_TRIM = _malloc_trim()


class Releaser:
    """Counts the bytes the controller dropped; releases free memory once enough
    has been dropped and the burst is over."""

    __slots__ = ("dropped_b", "releases")

    def __init__(self) -> None:
        self.dropped_b = 0
        self.releases = 0

    def dropped(self, size_b: int) -> None:
        self.dropped_b += size_b

    def settle(self) -> bool:
        """The burst is over (nothing left to pack): release if enough was dropped.
        Whether it did."""
        if self.dropped_b < RELEASE_AFTER_B or _TRIM is None:
            return False
        self.dropped_b = 0
        self.releases += 1
        _TRIM(0)
        return True
