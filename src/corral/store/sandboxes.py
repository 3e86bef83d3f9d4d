"""Sandbox files (docs/job-languages.md, sandboxes): content-addressed, stored once.

A file lives at STATE/sandboxes/sha256/ab/abcd… (its SHA-256, hex) however many jobs
name it. Input files come from `corral submit --input-sandbox` (PUT
/v1/sandboxes/{sha256}); output files from the agent at a job's end, listed per job in
STATE/sandboxes/jobs/JOB.json as (name, sha256, size). Limits: per file (refused while
it arrives) and per job (the sum of its input files, refused at submit). Files and
lists not used for sandboxes.retention_s are removed (SandboxStore.sweep).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from corral.model.errors import InvalidRequest, NotFound
from corral.model.sandbox import CHUNK_BYTES, Entry, SandboxTooLarge, check_digest

__all__ = ["SandboxStore", "SandboxTooLarge"]



class SandboxStore:
    def __init__(self, root: Path, *, max_file_bytes: int, max_job_bytes: int) -> None:
        self.root = root
        self.max_file_bytes = max_file_bytes
        self.max_job_bytes = max_job_bytes

    def path(self, digest: str) -> Path:
        check_digest(digest)
        return self.root / "sha256" / digest[:2] / digest

    def size(self, digest: str) -> int | None:
        """The stored file's size, None when it is not stored. Asking keeps it: its
        time is renewed, so the retention sweep counts from its last use."""
        path = self.path(digest)
        try:
            os.utime(path)
            return path.stat().st_size
        except FileNotFoundError:
            return None

    def sweep(self, retention_s: float, now: float | None = None) -> int:
        """Remove the files and job output lists not used for `retention_s` (and
        uploads left half-way); how many were removed."""
        cutoff = (time.time() if now is None else now) - retention_s
        removed = 0
        for pattern in ("sha256/*/*", "jobs/*.json", "tmp/*"):
            for path in self.root.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
        return removed

    def put(self, chunks: Iterable[bytes], *, name: str, digest: str | None = None,
            limit_bytes: int | None = None) -> tuple[str, int]:
        """Store a file arriving in chunks: (its sha256, its size). Refused (and nothing
        kept) over the file limit, or when it is not the `digest` announced."""
        limit = self.max_file_bytes if limit_bytes is None else limit_bytes
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=tmp_dir)
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        raise SandboxTooLarge(
                            f"sandbox file {name!r}: over {limit} bytes (the limit per "
                            f"file, sandboxes.max_file_bytes)")
                    h.update(chunk)
                    f.write(chunk)
            got = h.hexdigest()
            if digest is not None and got != digest:
                raise InvalidRequest(f"sandbox file {name!r}: its content's sha256 is {got}, "
                                     f"not {digest}")
            final = self.path(got)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                os.unlink(tmp)  # stored once
                os.utime(final)  # used again: kept as long as if new
            else:
                os.chmod(tmp, 0o644)
                os.replace(tmp, final)
            return got, size
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def read(self, digest: str) -> Iterator[bytes]:
        try:
            f = self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"sandbox file {digest}: not stored") from None
        with f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk

    def check_job(self, entries: Iterable[Entry]) -> int:
        """A job's input files: all stored, their sum within the job limit; the sum."""
        total = 0
        for e in entries:
            size = self.size(e.digest)
            if size is None:
                raise InvalidRequest(f"input_sandbox: {e.name!r} (sha256 {e.digest}) was not "
                                     "uploaded (PUT /v1/sandboxes/{sha256} first)")
            total += size
            if total > self.max_job_bytes:
                raise SandboxTooLarge(
                    f"input_sandbox: {e.name!r} brings the job's files to {total} bytes, over "
                    f"the limit of {self.max_job_bytes} (sandboxes.max_job_bytes)")
        return total

    # -- a job's output files ----------------------------------------------------------
    def _manifest(self, job_id: int) -> Path:
        return self.root / "jobs" / f"{job_id}.json"

    def outputs(self, job_id: int) -> dict[str, tuple[str, int]]:
        """name -> (sha256, size) of the output files collected for a job."""
        try:
            raw = json.loads(self._manifest(job_id).read_text())
        except FileNotFoundError:
            return {}
        return {str(k): (str(v[0]), int(v[1])) for k, v in raw.items()}

    def drop_outputs(self, job_id: int) -> None:
        """Forget a job's output files (their contents go at the next sweep unless
        another job names them)."""
        self._manifest(job_id).unlink(missing_ok=True)

    def add_output(self, job_id: int, name: str, digest: str, size: int) -> None:
        out = self.outputs(job_id)
        out[name] = (digest, size)
        path = self._manifest(job_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({k: list(v) for k, v in sorted(out.items())}))
        os.replace(tmp, path)
