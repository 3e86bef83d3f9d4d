"""Slurm's output format strings: `%[.][width]X` fields between literal text,
`-O name[:[.]width]` field lists, and `|`-joined parsable lines."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Getter = Callable[[dict[str, Any]], str]

_FIELD = re.compile(r"%(\.?)(\d*)([A-Za-z])")


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    get: Getter | None  # None: literal text in `header`
    width: int = 0  # 0: as wide as the value
    right: bool = False
    truncate: bool = True


def parse_percent(fmt: str, fields: Mapping[str, tuple[str, Getter]],
                  prog: str = "squeue",
                  invalid: Callable[[str], None] | None = None) -> list[Column]:
    """`%.18i %9P` -> columns. An unknown letter raises ValueError, or with `invalid`
    is reported to it and kept as literal text, as Slurm's squeue and sinfo do."""
    cols: list[Column] = []
    pos = 0
    fmt = fmt.replace("\\t", "\t")
    for m in _FIELD.finditer(fmt):
        if m.start() > pos:
            cols.append(Column(fmt[pos:m.start()], None))
        pos = m.end()
        letter = m.group(3)
        if letter not in fields:
            if invalid is None:
                raise ValueError(f"Invalid job format specification: {letter}")
            invalid(letter)
            cols.append(Column(m.group(0), None))
            continue
        header, get = fields[letter]
        cols.append(Column(header, get, int(m.group(2) or 0), right=bool(m.group(1))))
    if pos < len(fmt):
        cols.append(Column(fmt[pos:], None))
    return cols


def parse_named(fmt: str, fields: Mapping[str, tuple[str, Getter]], *,
                default_width: int = 20, sep: str = " ") -> list[Column]:
    """`jobid,state:10,name:.30` (squeue -O, sacct -o) -> columns, matched without case."""
    lower = {k.lower(): k for k in fields}
    cols: list[Column] = []
    for item in [p.strip() for p in fmt.split(",") if p.strip()]:
        name, _, size = item.partition(":")
        if "%" in name and not size:
            name, _, size = name.partition("%")
        key = lower.get(name.lower())
        if key is None:
            raise ValueError(f"Invalid field requested: \"{name}\"")
        right = size.startswith(".")
        width_text = size.lstrip(".").rstrip("|")
        width = int(width_text) if width_text.isdigit() else default_width
        header, get = fields[key]
        if cols and sep:
            cols.append(Column(sep, None))
        cols.append(Column(header, get, width, right=right))
    return cols


def _cell(col: Column, value: str) -> str:
    if not col.width:
        return value
    if col.truncate and len(value) > col.width:
        value = value[:col.width]
    return value.rjust(col.width) if col.right else value.ljust(col.width)


def header_line(cols: list[Column]) -> str:
    return "".join(c.header if c.get is None else _cell(c, c.header) for c in cols).rstrip()


def line(cols: list[Column], row: dict[str, Any]) -> str:
    out = []
    for c in cols:
        out.append(c.header if c.get is None else _cell(c, c.get(row)))
    return "".join(out).rstrip()


def render(cols: list[Column], rows: list[dict[str, Any]], *, header: bool) -> list[str]:
    lines = [header_line(cols)] if header else []
    lines.extend(line(cols, r) for r in rows)
    return lines
