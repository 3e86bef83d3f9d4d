"""Standard Workload Format reader (.swf, .swf.gz) and the pyss scenario format.

SWF: one job per line, 18 whitespace-separated fields; `;` starts a header or
comment line (`; MaxProcs: 100`). Fields used here (1-based): 1 job id,
2 submit, 3 wait, 4 run time, 5 allocated processors, 8 requested processors,
9 requested time, 10 requested memory, 12 user id, 15 queue, 16 partition.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple


class TraceError(ValueError):
    """The trace cannot be read (missing, unreadable, malformed)."""


class SwfRecord(NamedTuple):
    job_id: int
    t_submit: float
    wait_s: float
    run_s: float
    procs_alloc: int
    procs_req: int
    limit_s: float  # requested time, -1 if unknown
    mem_req_kb: float
    user: str
    queue: int = -1
    partition: int = -1


@dataclass(slots=True)
class Trace:
    records: list[SwfRecord]
    header: dict[str, str] = field(default_factory=dict)
    name: str = ""

    def header_int(self, key: str) -> int | None:
        v = self.header.get(key)
        try:
            return int(v) if v is not None else None
        except ValueError:
            return None

    @property
    def max_procs(self) -> int | None:
        procs = self.header_int("MaxProcs")
        return procs if procs and procs > 0 else self.header_int("MaxNodes")


def _open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    if not path.is_file():
        raise TraceError(f"{path}: not a file")
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return path.open("r", encoding="utf-8", errors="replace")


# The largest magnitude a field may have (seconds: 30 million years; processors,
# memory): beyond it a value is a broken record, not a job.
FIELD_MAX = 1e15
_FIELD_NAMES = (
    "job id", "submit time", "wait time", "run time", "allocated processors",
    "average CPU time", "used memory", "requested processors", "requested time",
    "requested memory", "status", "user id", "group id", "executable", "queue",
    "partition",
)


def _finite(v: float, where: str, k: int) -> float:
    """`v`, the field `k` (0-based) of a record, or a TraceError naming it."""
    if not -FIELD_MAX <= v <= FIELD_MAX:  # NaN fails too
        raise TraceError(
            f"{where}: field {k + 1} ({_FIELD_NAMES[k]}) is {v!r}: "
            f"must be a finite number within ±{FIELD_MAX:g}"
        )
    return v


def _int(text: str, where: str, k: int) -> int:
    """The integer of field `k` (0-based; a float is truncated), or a TraceError."""
    try:
        v = float(text)
    except ValueError:
        raise TraceError(
            f"{where}: field {k + 1} ({_FIELD_NAMES[k]}) is not a number: {text[:40]!r}"
        ) from None
    return int(_finite(v, where, k))


def read_swf(path: str | Path, limit_jobs: int | None = None) -> Trace:
    """Read an SWF trace (the first `limit_jobs` records if given). Raises
    TraceError with the line number on bad input."""
    p = Path(path)
    header: dict[str, str] = {}
    records: list[SwfRecord] = []
    try:
        with _open_text(p) as fh:
            for lineno, line in enumerate(fh, 1):
                s = line.strip()
                if not s:
                    continue
                if s.startswith(";"):
                    body = s.lstrip(";").strip()
                    if ":" in body:
                        k, v = body.split(":", 1)
                        header.setdefault(k.strip(), v.strip())
                    continue
                f = s.split()
                nf = len(f)
                if nf < 9:
                    raise TraceError(f"{p}:{lineno}: {nf} fields, SWF needs 18")
                where = f"{p}:{lineno}"
                try:
                    nums = list(map(float, f[:10]))
                except ValueError:
                    raise TraceError(f"{where}: not a number in {s[:60]!r}") from None
                for i, x in enumerate(nums):
                    _finite(x, where, i)
                if limit_jobs is not None and len(records) >= limit_jobs:
                    break
                records.append(
                    SwfRecord(
                        int(nums[0]),
                        nums[1],
                        nums[2],
                        nums[3],
                        int(nums[4]),
                        int(nums[7]),
                        nums[8],
                        nums[9] if nf > 9 else -1.0,
                        f[11] if nf > 11 else "-1",
                        _int(f[14], where, 14) if nf > 14 else -1,
                        _int(f[15], where, 15) if nf > 15 else -1,
                    )
                )
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise TraceError(f"{p}: {e}") from None
    return Trace(records, header, p.name)


@dataclass(frozen=True, slots=True)
class ScenarioJob:
    """A job of a pyss hand-built scenario, with its expected finish time."""

    job_id: int
    t_submit: float
    expected_finish: float
    limit_s: float
    procs: int
    run_s: float
    user: str


def read_pyss_scenario(path: str | Path) -> Iterator[ScenarioJob]:
    """Lines `submit id_and_expected_finish estimate procs runtime adminQoS userQoS [user]`;
    lines pyss drops (not estimate >= runtime >= 0, submit >= 0, procs > 0) are skipped."""
    n = 0
    for line in Path(path).read_text().splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        f = s.split()
        submit, est, procs, run = int(f[0]), int(f[2]), int(f[3]), int(f[4])
        if not (est >= run >= 0 and submit >= 0 and procs > 0):
            continue
        n += 1
        yield ScenarioJob(n, submit, int(float(f[1])), est, procs, run, f[7] if len(f) > 7 else "0")
