"""Sandbox file references (docs/job-languages.md): what a job's spec and its launch
order carry of its input files, and the checks on names and digests."""

from __future__ import annotations

import re
from dataclasses import dataclass

from corral.model.errors import InvalidRequest

DIGEST_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_NAME_LEN = 255
CHUNK_BYTES = 1 << 20


class SandboxTooLarge(InvalidRequest):
    """A file or a job's files over the configured limit."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One input file of a job: `SHA256:MODE:NAME` in its spec (MODE 644 or 755)."""

    digest: str
    executable: bool
    name: str

    def text(self) -> str:
        return f"{self.digest}:{'755' if self.executable else '644'}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> Entry:
        digest, _, rest = text.partition(":")
        mode, _, name = rest.partition(":")
        check_digest(digest)
        if mode not in ("644", "755"):
            raise InvalidRequest(f"input_sandbox: {text[:80]!r}: the mode must be 644 or 755")
        check_name(name, "input_sandbox")
        if "/" in name:
            raise InvalidRequest(f"input_sandbox: {name[:80]!r}: a file name, without '/'")
        return cls(digest, mode == "755", name)


def check_digest(digest: str) -> str:
    if not DIGEST_RE.match(digest):
        raise InvalidRequest(f"sha256: {digest[:80]!r} is not 64 lowercase hex digits")
    return digest


def check_name(name: str, field: str) -> str:
    """A file name relative to the working directory, inside it."""
    parts = name.split("/")
    if (not name or len(name) > MAX_NAME_LEN or name.startswith("/") or "\0" in name
            or any(p in ("", ".", "..") for p in parts)):
        raise InvalidRequest(f"{field}: {name[:80]!r} is not a relative path inside the "
                             f"working directory (at most {MAX_NAME_LEN} characters)")
    return name


MAX_FILES = 1000


def check_lists(inputs: tuple[str, ...], outputs: tuple[str, ...]) -> None:
    """A job's sandbox lists well formed: entries parse, input names unique, output
    names inside the working directory, at most MAX_FILES each."""
    for field, items in (("input_sandbox", inputs), ("output_sandbox", outputs)):
        if len(items) > MAX_FILES:
            raise InvalidRequest(f"{field}: {len(items)} files, over the limit of {MAX_FILES}")
    names = [Entry.parse(t).name for t in inputs]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InvalidRequest(f"input_sandbox: {dup!r} is named twice")
    for name in outputs:
        check_name(name, "output_sandbox")
