"""Read-your-writes across a user's commands, with several controllers.

Every answer of a leader says the newest event of the log as of then
(X-Corral-Seq); a follower answers a read only once its copy has applied the
event the client asks for (X-Corral-Min-Seq; docs/deployment.md, "Follower
reads"). A process remembers the highest it has seen; so that `corral submit`
followed by `corral jobs` (two processes) reads the submitted job from a follower
too, the highest a write was answered with is also kept in a small file per user
and set of controllers: `$CORRAL_SESSION_DIR`, else `$XDG_RUNTIME_DIR/corral`,
else `~/.cache/corral`. Best effort: a file that cannot be read or written only
loses the guarantee across processes (a follower may then answer from a copy a
moment older than the write; the leader never does).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path


def _path(urls: list[str]) -> Path:
    where = os.environ.get("CORRAL_SESSION_DIR")
    if not where:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        where = os.path.join(runtime, "corral") if runtime else \
            os.path.join(os.path.expanduser("~"), ".cache", "corral")
    key = hashlib.sha1(",".join(sorted(u.rstrip("/") for u in urls)).encode(),
                       usedforsecurity=False).hexdigest()[:16]
    return Path(where) / f"seq-{key}"


def load(urls: list[str]) -> int:
    """The highest event a write of this user was answered with (0: none known)."""
    with contextlib.suppress(OSError, ValueError):
        return max(0, int(_path(urls).read_text().strip() or "0"))
    return 0


def save(urls: list[str], seq: int) -> None:
    """Remember `seq` if it is higher than what the file holds."""
    path = _path(urls)
    with contextlib.suppress(OSError, ValueError):
        if seq <= load(urls):
            return
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f"{path.name}.{os.getpid()}")
        tmp.write_text(f"{seq}\n")
        os.replace(tmp, path)
