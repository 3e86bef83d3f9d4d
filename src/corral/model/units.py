"""Parsing of time limits and memory sizes as users write them (Slurm forms)."""

from __future__ import annotations

import re

from corral.model.bounds import MEM_MB, TIME_LIMIT_S, shown
from corral.model.errors import InvalidRequest

_MEM_UNITS_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
_MEM_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)


def parse_mem_mb(field: str, text: str) -> int:
    """'512' (MiB), '512M', '4G', '1.5G', '1T' -> MiB."""
    m = _MEM_RE.match(text)
    if not m:
        raise InvalidRequest(
            f"{field}: {text!r} is not a memory size (use e.g. 512M, 4G)"
        )
    value = float(m.group(1))
    unit = (m.group(2) or "M").upper()
    mem_mb = value * _MEM_UNITS_MB[unit]
    if mem_mb > MEM_MB[1]:
        raise InvalidRequest(f"{field}: {shown(text)} is over the maximum of {MEM_MB[1]} MiB")
    return max(1, round(mem_mb))


# A time limit that was asked to be unlimited (a JobSpec's None means "not given":
# the partition's default applies).
UNLIMITED_S = 0


def parse_duration_s(field: str, text: str) -> int:
    """Slurm time forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S;
    'UNLIMITED'/'INFINITE'/'INFINITY' -> UNLIMITED_S."""
    t = text.strip()
    if t.upper() in ("UNLIMITED", "INFINITE", "INFINITY"):
        return UNLIMITED_S
    days = 0
    try:
        if "-" in t:
            d, rest = t.split("-", 1)
            days = int(d)
            parts = [int(p) for p in rest.split(":")]
            if len(parts) > 3 or not parts:
                raise ValueError
            while len(parts) < 3:
                parts.append(0)
            h, m, s = parts
        else:
            parts = [int(p) for p in t.split(":")]
            if len(parts) == 1:
                h, m, s = 0, parts[0], 0
            elif len(parts) == 2:
                h, m, s = 0, parts[0], parts[1]
            elif len(parts) == 3:
                h, m, s = parts
            else:
                raise ValueError
    except ValueError:
        raise InvalidRequest(
            f"{field}: {text!r} is not a duration (use minutes, MM:SS, HH:MM:SS or D-HH:MM:SS)"
        ) from None
    if min(days, h, m, s) < 0:
        raise InvalidRequest(f"{field}: {shown(text)} is negative")
    total_s = ((days * 24 + h) * 60 + m) * 60 + s
    if total_s > TIME_LIMIT_S[1]:
        raise InvalidRequest(f"{field}: {shown(text)} is over the maximum of "
                             f"{TIME_LIMIT_S[1]} seconds")
    return total_s


def format_duration_s(seconds: float | None) -> str:
    """Seconds -> Slurm's [D-]HH:MM:SS; None/0 -> UNLIMITED."""
    if not seconds:
        return "UNLIMITED"
    total = int(seconds)
    days, rem = divmod(total, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if days:
        return f"{days}-{h:02d}:{m:02d}:{s:02d}"
    return f"{h:02d}:{m:02d}:{s:02d}"


def format_mem_mb(mem_mb: float | None) -> str:
    if mem_mb is None:
        return "-"
    if mem_mb >= 1024 and mem_mb % 1024 == 0:
        return f"{int(mem_mb // 1024)}G"
    return f"{int(mem_mb)}M"


def format_clock_s(seconds: float | None) -> str:
    """Elapsed time the way squeue prints it: M:SS, H:MM:SS or D-HH:MM:SS."""
    s = max(0, int(seconds or 0))
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    if d:
        return f"{d}-{h:02d}:{m:02d}:{s:02d}"
    if h:
        return f"{h}:{m:02d}:{s:02d}"
    return f"{m}:{s:02d}"
