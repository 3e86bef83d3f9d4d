"""Slurm host lists: `node[1-3,7],gpu01` <-> ['node1', 'node2', 'node3', 'node7', 'gpu01']."""

from __future__ import annotations

import re

_TAIL = re.compile(r"^(.*?)(\d+)$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p for p in out if p]


def expand(text: str) -> list[str]:
    """Expand a host list expression; raises ValueError when it is malformed."""
    hosts: list[str] = []
    for item in _split_top(text.strip()):
        m = re.match(r"^([^\[]*)\[([^\]]+)\](.*)$", item)
        if not m:
            if "[" in item or "]" in item:
                raise ValueError(f"bad host list {text!r}")
            hosts.append(item)
            continue
        prefix, ranges, suffix = m.groups()
        tails = expand(suffix) if suffix else [""]
        for rng in ranges.split(","):
            lo, dash, hi = rng.partition("-")
            if not lo.isdigit() or (dash and not hi.isdigit()):
                raise ValueError(f"bad host list {text!r}")
            width = len(lo)
            for n in range(int(lo), int(hi if dash else lo) + 1):
                hosts.extend(f"{prefix}{n:0{width}d}{t}" for t in tails)
    return hosts


def compress(hosts: list[str]) -> str:
    """The shortest usual form: consecutive numbered names of one prefix in brackets."""
    groups: dict[tuple[str, int], list[int]] = {}
    order: list[tuple[str, int] | str] = []
    padded: dict[str, int] = {}  # prefix -> the width of its zero-padded numbers
    for h in hosts:
        m = _TAIL.match(h)
        if m and m.group(2).startswith("0") and len(m.group(2)) > 1:
            padded.setdefault(m.group(1), len(m.group(2)))
    for h in hosts:
        m = _TAIL.match(h)
        if not m:
            order.append(h)
            continue
        digits = m.group(2)
        width = len(digits) if padded.get(m.group(1)) == len(digits) else 0
        key = (m.group(1), width)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(int(m.group(2)))
    parts = []
    for item in order:
        if isinstance(item, str):
            parts.append(item)
            continue
        prefix, width = item
        key = item
        nums = sorted(set(groups[key]))
        if len(nums) == 1:
            parts.append(f"{prefix}{nums[0]:0{width}d}")
            continue
        ranges, start, prev = [], nums[0], nums[0]
        for n in [*nums[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            ranges.append(f"{start:0{width}d}" if start == prev
                          else f"{start:0{width}d}-{prev:0{width}d}")
            if n is not None:
                start = prev = n
        parts.append(f"{prefix}[{','.join(ranges)}]")
    return ",".join(parts)
