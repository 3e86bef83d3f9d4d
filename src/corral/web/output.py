"""The tail of a job's output file, for its owner's page.

The controller may run as root and read what the job's owner may not, so a file
is shown only when it is a regular file owned by the job's uid, opened without
following a symbolic link at its last component and checked after it was opened
(a job that named someone else's file as its output, or a link to one, gets nothing
shown). A file on a node's local disk, not on the controller's host, is "not here".
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass

TAIL_BYTES = 16384  # the most read from the file's end
TAIL_LINES = 100


@dataclass(frozen=True)
class Tail:
    path: str
    text: str | None  # None: not shown; `note` says why
    note: str = ""
    size_bytes: int = 0


def tail(path: str, owner_uid: int, *, max_bytes: int = TAIL_BYTES,
         max_lines: int = TAIL_LINES) -> Tail:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return Tail(path, None, "no such file on the controller's host (yet)")
    except OSError as e:
        if e.errno == errno.ELOOP:
            return Tail(path, None, "a symbolic link: not shown")
        return Tail(path, None, f"cannot open it: {e.strerror}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return Tail(path, None, "not a regular file: not shown")
        if st.st_uid != owner_uid:
            return Tail(path, None, "not owned by the job's user: not shown")
        start = max(0, st.st_size - max_bytes)
        data = os.pread(fd, max_bytes, start)
    finally:
        os.close(fd)
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if start > 0 and lines:
        lines = lines[1:]  # the first line was cut
    shown = lines[-max_lines:]
    note = f"the last {len(shown)} lines" if len(shown) < len(lines) or start > 0 else ""
    return Tail(path, "\n".join(shown), note, st.st_size)
