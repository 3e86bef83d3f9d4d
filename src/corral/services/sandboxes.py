"""Sandboxes of jobs (docs/job-languages.md): the controller's store of their files
(corral.store.sandboxes) and the checks a submission's sandbox lists pass."""

from __future__ import annotations

import time
from pathlib import Path

from corral.config import Config
from corral.model.job import JobSpec
from corral.model.sandbox import Entry
from corral.store.sandboxes import SandboxStore


def store_of(cfg: Config) -> SandboxStore:
    return SandboxStore(Path(cfg.state_dir) / "sandboxes",
                        max_file_bytes=cfg.sandboxes.max_file_bytes,
                        max_job_bytes=cfg.sandboxes.max_job_bytes)


def input_entries(spec: JobSpec) -> list[Entry]:
    return [Entry.parse(t) for t in spec.input_sandbox]


def check_stored(spec: JobSpec, cfg: Config) -> None:
    """The input files all uploaded, their sum within the job limit (reads the store:
    called where a submission arrives, not in the pure submit path)."""
    if spec.input_sandbox:
        store_of(cfg).check_job(input_entries(spec))


SWEEP_EVERY_S = 3600.0
_last_sweep: dict[str, float] = {}  # state dir -> when its store was last swept


def maybe_sweep(cfg: Config) -> int:
    """Remove what retention_s allows, at most every SWEEP_EVERY_S per store (called
    as files arrive; blocking I/O: from a thread)."""
    if not cfg.sandboxes.retention_s:
        return 0
    now = time.time()
    if now - _last_sweep.get(cfg.state_dir, 0.0) < SWEEP_EVERY_S:
        return 0
    _last_sweep[cfg.state_dir] = now
    return store_of(cfg).sweep(cfg.sandboxes.retention_s, now)
