"""Licenses: named counters shared by the whole cluster (`-L matlab:2,comsol`).

A job asks `name[:count]` terms joined by commas (all of them); the configuration
says how many of each the cluster has (`[licenses]`). The scheduler counts what the
running jobs hold (sched/licenses.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from corral.model.bounds import INT32_MAX, MAX_IDENT_LEN, shown
from corral.model.errors import Infeasible, InvalidRequest

_TERM = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.@-]*)(?::(\d+))?$")
MAX_TERMS = 64

Licenses = tuple[tuple[str, int], ...]


def parse_licenses(text: str) -> Licenses:
    """`matlab:2,comsol` -> (("comsol", 1), ("matlab", 2)); the same name twice adds up."""
    if "|" in text:
        raise InvalidRequest(f"licenses: {shown(text)}: '|' (any of) is not supported; "
                             "list every license the job needs, joined by ','")
    counts: dict[str, int] = {}
    terms = [t.strip() for t in text.split(",") if t.strip()]
    if not terms:
        raise InvalidRequest(f"licenses: {shown(text)} names no license")
    if len(terms) > MAX_TERMS:
        raise InvalidRequest(f"licenses: {len(terms)} terms is over the limit of {MAX_TERMS}")
    for term in terms:
        m = _TERM.match(term)
        if not m or len(m.group(1)) > MAX_IDENT_LEN:
            raise InvalidRequest(f"licenses: {shown(term)} is not name[:count]")
        count = int(m.group(2) or 1)
        if not 1 <= count <= INT32_MAX:
            raise InvalidRequest(f"licenses: {shown(term)}: the count must be 1-{INT32_MAX}")
        counts[m.group(1)] = counts.get(m.group(1), 0) + count
        if counts[m.group(1)] > INT32_MAX:
            raise InvalidRequest(f"licenses: {m.group(1)}: over {INT32_MAX} in all")
    return tuple(sorted(counts.items()))


def format_licenses(lic: Licenses) -> str:
    return ",".join(f"{name}:{count}" for name, count in lic)


def held(specs: Iterable[str | None]) -> dict[str, int]:
    """What jobs hold in all, from their normalized license requests."""
    out: dict[str, int] = {}
    for text in specs:
        if text:
            for name, count in parse_licenses(text):
                out[name] = out.get(name, 0) + count
    return out


def check_against(lic: Licenses, pool: dict[str, int]) -> None:
    """A request the cluster can never grant: an unknown name, or more than it has."""
    for name, count in lic:
        if name not in pool:
            have = ", ".join(sorted(pool)) or "none"
            raise InvalidRequest(f"licenses: {shown(name)} is not a license of this cluster "
                                 f"(have: {have})")
        if count > pool[name]:
            raise Infeasible(f"licenses: asks {count} {name}; the cluster has "
                                 f"{pool[name]}")
