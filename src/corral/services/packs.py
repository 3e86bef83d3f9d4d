"""Published jobs that stay unchanged are kept compressed, in packs of a few dozen.

A pending job's JSON (services/readmodel.py) is about 1.2 KB, more with an
environment, while its records take less than half of that: kept as they are, the
renderings would be most of a pending job's memory. Jobs of a queue look much like
each other (the same user, directory, command, options), so a pack of consecutive
jobs' renderings compresses ten-fold and more (eight ~1.2 KB jobs into ~750 B).

The publisher (services/snapshot.py) packs the jobs of each chunk of its read model
once the chunk has not changed for PACK_AFTER_S: their renderings are joined,
compressed and dropped, from the published entries and from the jobs' own
caches. A reader that needs a packed job's JSON unpacks its pack (about a
microsecond a job); the last few packs unpacked are kept, so the jobs of a listing
or of a run of one-job queries unpack each pack once.
"""

from __future__ import annotations

import threading
import zlib
from array import array
from collections.abc import Sequence

PACK_AFTER_S = 0.25  # how long a chunk stays unchanged before its jobs are packed
PACK_JOBS = 8  # jobs a pack: a one-job query unpacks ~10 KB (~15-25 µs); ratio ~13x
ZLIB_LEVEL = 1  # the fastest: a few µs a job, most of the ratio
KEPT_UNPACKED = 128  # packs kept unpacked for readers (~1.3 MB at most)


class Pack:
    """Several jobs' renderings, joined and compressed; never changed. A job is
    known by its place in the pack (a small int, which costs nothing to hold), and
    the pack keeps where each one starts and ends (4 bytes a job, not two ints)."""

    __slots__ = ("blob", "ends", "size")

    def __init__(self, parts: Sequence[bytes]) -> None:
        data = b"".join(parts)
        self.blob = zlib.compress(data, ZLIB_LEVEL)
        self.size = len(data)
        ends = array("I", [0])
        for part in parts:
            ends.append(ends[-1] + len(part))
        self.ends = ends

    def part(self, at: int) -> bytes:
        """The rendering at place `at`."""
        ends = self.ends
        return self.data()[ends[at]:ends[at + 1]]

    def data(self) -> bytes:
        """The joined renderings (from the kept ones when recently unpacked)."""
        out = _UNPACKED.get(self)
        if out is None:
            out = zlib.decompress(self.blob, bufsize=self.size)
            with _LOCK:  # (readers on both threads: the oldest out, then this one in)
                if len(_UNPACKED) >= KEPT_UNPACKED:
                    del _UNPACKED[next(iter(_UNPACKED))]
                _UNPACKED[self] = out
        return out


# Pack -> its data, oldest first, for readers on any thread
_UNPACKED: dict[Pack, bytes] = {}
_LOCK = threading.Lock()
