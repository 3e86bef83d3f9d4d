"""Whole listings sent from a file, not copied into the socket at each request.

A full listing of a large queue is several megabytes (about 1.5 KB a job), and
copying it into the socket was most of the controller's CPU for each one. A
listing asked for again from the same snapshot (services/snapshot.py: unchanged
jobs, clients polling) is written once into an anonymous in-memory file
(memfd), and each answer is that file handed to the kernel with sendfile(2): on
a Unix socket the kernel passes the file's pages to the reader without copying
them (Linux 6.5 and later; elsewhere it copies, as a send would).

The file is made on the second request for the same listing of a snapshot (a
listing asked once costs what it did), at most MAX_FILES a snapshot, and goes
with the snapshot. Where any of this is missing (no memfd, a transport that
cannot send a file, a server that is not uvicorn's), the answer is sent as
before: the same bytes either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from corral.services.snapshot import Snapshot

MIN_FILE_B = 1 << 20  # smaller answers are sent as they are
MAX_FILES = 2  # listings kept as files a snapshot (each as big as the listing)

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


class BodyFile(io.FileIO):
    """A listing's file: closed when its snapshot lets it go (no ResourceWarning:
    dropping it is how it is meant to end)."""

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def body_file(snap: Snapshot, key: object, parts: Sequence[bytes],
              size: int) -> BodyFile | None:
    """The file holding this listing of the snapshot, made on its second request
    (None: send the parts)."""
    if size < MIN_FILE_B or not hasattr(os, "memfd_create"):
        return None
    kept = snap.derived(("file", key))
    if isinstance(kept, BodyFile):
        return kept
    if kept is None:  # the first request: note it
        snap.keep(("file", key), 1)
        return None
    files = snap.derived("files") or 0
    if files >= MAX_FILES:
        return None
    try:
        f = _write(parts)
    except OSError:
        return None
    if not snap.keep(("file", key), f):
        f.close()
        return None
    snap.keep("files", files + 1)
    return f


def _write(parts: Sequence[bytes]) -> BodyFile:
    fd = os.memfd_create("corral-listing", os.MFD_CLOEXEC)
    f = BodyFile(fd, "r+", closefd=True)
    try:
        for part in parts:
            view = memoryview(part)
            while view:
                view = view[f.write(view) or 0:]
    except BaseException:
        f.close()
        raise
    return f


async def send_file(send: Send, f: io.FileIO, size: int) -> bool:
    """Send the answer's body (its headers sent, saying `size` bytes) from `f` on
    uvicorn's transport; False, with nothing of the body sent: send it yourself."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None or getattr(cycle, "expected_content_length", None) != size \
            or transport.is_closing():
        return False
    loop = asyncio.get_running_loop()
    try:
        sent = await loop.sendfile(transport, f, 0, size, fallback=False)
    except (asyncio.SendfileNotAvailableError, NotImplementedError, RuntimeError):
        return False  # (raised before anything is sent: TLS, a loop without sendfile)
    if sent != size:  # (the client went away mid-answer)
        with contextlib.suppress(Exception):
            transport.close()
        return True
    cycle.expected_content_length = 0  # type: ignore[union-attr]
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return True
