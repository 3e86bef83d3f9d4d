"""Generic resources other than GPUs: per-node counts by name (`nvme`,
`fpga:xilinx`), as Slurm's `--gres=nvme:1,fpga:xilinx:2` (docs/resources.md).

A job asks `name[:type][:count]` terms joined by commas, per node (count 1 when not
given); a node's configuration says how many of each it has (`[[nodes]] gres`). A
name matches exactly the configured one: `fpga:1` asks an untyped `fpga`, not an
`fpga:xilinx`. GPUs (`gpu[:type][:count]`) are counted apart (gpus_per_node,
gpu_type).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from corral.model.bounds import INT32_MAX, shown
from corral.model.errors import InvalidRequest

_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
NAME = re.compile(rf"^{_PART}(?::{_PART})?$")
_TERM = re.compile(rf"^({_PART}(?::(?!\d+$){_PART})?)(?::(\d+))?$")
MAX_TERMS = 32

Gres = tuple[tuple[str, int], ...]


def parse_gres(text: str) -> Gres:
    """`nvme:1,fpga:xilinx:2` -> (("fpga:xilinx", 2), ("nvme", 1)); the same name
    twice adds up."""
    counts: dict[str, int] = {}
    terms = [t.strip() for t in text.split(",") if t.strip()]
    if not terms:
        raise InvalidRequest(f"gres: {shown(text)} names no generic resource")
    if len(terms) > MAX_TERMS:
        raise InvalidRequest(f"gres: {len(terms)} terms is over the limit of {MAX_TERMS}")
    for term in terms:
        m = _TERM.match(term)
        if not m:
            raise InvalidRequest(f"gres: {shown(term)} is not name[:type][:count]")
        name, count = m.group(1), int(m.group(2) or 1)
        if name == "gpu" or name.startswith("gpu:"):
            raise InvalidRequest(f"gres: {shown(term)}: GPUs are asked with gpus_per_node "
                                 "and gpu_type")
        if not 1 <= count <= INT32_MAX:
            raise InvalidRequest(f"gres: {shown(term)}: the count must be 1-{INT32_MAX}")
        counts[name] = counts.get(name, 0) + count
        if counts[name] > INT32_MAX:
            raise InvalidRequest(f"gres: {name}: over {INT32_MAX} in all")
    return tuple(sorted(counts.items()))


def format_gres(gres: Iterable[tuple[str, int]]) -> str:
    return ",".join(f"{name}:{count}" for name, count in gres)


def short_of(need: Gres, free: Mapping[str, int]) -> list[str]:
    """The names of `need` that `free` lacks, as 'nvme: asks 1, 0 free'."""
    return [f"{name}: asks {count}, {free.get(name, 0)} free"
            for name, count in need if free.get(name, 0) < count]


def node_text(gpus: int, gres: Mapping[str, int]) -> str:
    """A node's GPUs and generic resources as Slurm shows them: 'gpu:4,nvme:2' ('':
    none)."""
    items = ([f"gpu:{gpus}"] if gpus else []) + [f"{k}:{v}" for k, v in sorted(gres.items())]
    return ",".join(items)
