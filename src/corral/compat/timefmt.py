"""Times as Slurm and Grid Engine print and read them."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any

from corral.model.errors import InvalidRequest
from corral.model.units import format_clock_s

compact = format_clock_s  # squeue's TIME


def full(seconds: float | None) -> str:
    """sacct's Elapsed and scontrol's RunTime: HH:MM:SS or D-HH:MM:SS."""
    s = max(0, int(seconds or 0))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return f"{d}-{h:02d}:{m:02d}:{s:02d}" if d else f"{h:02d}:{m:02d}:{s:02d}"


def limit(seconds: int | None, *, compact_form: bool = True) -> str:
    if not seconds:
        return "UNLIMITED"
    return compact(seconds) if compact_form else full(seconds)


def stamp(t: float | None, unknown: str = "Unknown") -> str:
    if t is None:
        return unknown
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def elapsed_s(job: dict[str, Any], now: float | None = None) -> float:
    if job.get("t_start") is None:
        return 0.0
    end = job.get("t_end") or (time.time() if now is None else now)
    return max(0.0, float(end - job["t_start"]))


_REL = re.compile(r"^now\+(\d+)(seconds?|minutes?|hours?|days?|weeks?|[smhdw])?$", re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAMED = {"midnight": (0, 0), "noon": (12, 0), "teatime": (16, 0), "elevenses": (11, 0),
          "fika": (15, 0)}


def parse_begin(text: str, now: float | None = None) -> float:
    """sbatch --begin: now+N[unit], HH:MM[:SS], midnight/noon/teatime, today,
    tomorrow, MM/DD[/YY], YYYY-MM-DD[THH:MM[:SS]] -> epoch seconds."""
    now = time.time() if now is None else now
    t = text.strip()
    base = datetime.fromtimestamp(now)
    m = _REL.match(t)
    if m:
        unit = (m.group(2) or "s")[0].lower()
        return now + int(m.group(1)) * _UNIT_S[unit]
    low = t.lower()
    if low == "now":
        return now
    if low == "today":
        return base.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    if low == "tomorrow":
        day = base.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        return day.timestamp()
    hm: tuple[int, ...] | None = _NAMED.get(low)
    if hm is None and re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", t):
        hm = tuple(int(p) for p in t.split(":"))
    if hm is not None:
        sec = hm[2] if len(hm) > 2 else 0
        at = base.replace(hour=hm[0], minute=hm[1], second=sec, microsecond=0)
        return at.timestamp() if at.timestamp() > now else (at + timedelta(days=1)).timestamp()
    md = re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?", t)
    if md:
        year = int(md.group(3)) if md.group(3) else base.year
        year = year + 2000 if year < 100 else year
        return datetime(year, int(md.group(1)), int(md.group(2))).timestamp()
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise InvalidRequest(f"Invalid time specification {text}") from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.timestamp()


def parse_stamp(text: str) -> float:
    """sacct -S/-E: YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], HH:MM[:SS], now[-N[unit]]."""
    t = text.strip()
    m = re.fullmatch(r"now(?:-(\d+)(seconds?|minutes?|hours?|days?|weeks?|[smhdw])?)?", t,
                     re.I)
    if m:
        back = int(m.group(1) or 0) * _UNIT_S[(m.group(2) or "s")[0].lower()]
        return time.time() - back
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", t):
        parts = [int(p) for p in t.split(":")] + [0]
        now = datetime.now()
        return now.replace(hour=parts[0], minute=parts[1], second=parts[2],
                           microsecond=0).timestamp()
    return parse_begin(t)
