"""The CPU binding options a job may ask for (docs/resources.md), checked alike by the
API, the front ends and the agent.

    cpu_bind   "cores"   whole free cores first, packed in one NUMA domain (default)
               "threads" hardware threads, the siblings of busy ones first
               "none"    not bound (the job may run on every CPU of the node)
               "map_cpu:0,2"  exactly these CPU ids
    core_type  "performance" | "efficiency" on hybrid CPUs ("" any)
"""

from __future__ import annotations

CPU_BIND_MODES = ("cores", "threads", "none")
MAP_CPU = "map_cpu:"
CORE_TYPES = ("performance", "efficiency")
MAX_MAP_CPUS = 4096
MAX_CPU_ID = 65535


class BindOptionError(ValueError):
    """A cpu_bind or core_type value corral does not know (the message names both)."""


def parse_map_cpu(text: str) -> tuple[int, ...]:
    """'map_cpu:0,2,3' -> (0, 2, 3) (each id once, in the order given)."""
    body = text[len(MAP_CPU):]
    ids: list[int] = []
    for raw in body.split(","):
        part = raw.strip()
        if not part.isdigit() or int(part) > MAX_CPU_ID:
            raise BindOptionError(
                f"cpu_bind: {text!r} is not map_cpu:<ids>, ids 0 to {MAX_CPU_ID} "
                "separated by commas")
        if int(part) not in ids:
            ids.append(int(part))
    if len(ids) > MAX_MAP_CPUS:
        raise BindOptionError(f"cpu_bind: {len(ids)} CPU ids, at most {MAX_MAP_CPUS}")
    return tuple(ids)


def check_cpu_bind(value: str) -> str:
    """The canonical form of a cpu_bind value ('' stays '': the site's default).
    Slurm's spellings are taken: 'core'/'thread' and a 'verbose,' prefix."""
    text = value.strip().lower()
    parts = [p for p in text.split(",", 1) if p] if not text.startswith(MAP_CPU) else [text]
    if parts and parts[0] in ("verbose", "quiet"):
        parts = parts[1:]
    text = parts[0] if parts else ""
    if not text:
        return ""
    text = {"core": "cores", "thread": "threads", "no": "none"}.get(text, text)
    if text in CPU_BIND_MODES:
        return text
    if text.startswith(MAP_CPU):
        return MAP_CPU + ",".join(str(i) for i in parse_map_cpu(text))
    raise BindOptionError(f"cpu_bind: {value!r} is not one of "
                          f"{', '.join(CPU_BIND_MODES)}, map_cpu:<ids>")


def check_core_type(value: str) -> str:
    text = value.strip().lower()
    text = {"p": "performance", "e": "efficiency", "any": ""}.get(text, text)
    if text and text not in CORE_TYPES:
        raise BindOptionError(f"core_type: {value!r} is not one of {', '.join(CORE_TYPES)}")
    return text


GRES_FLAGS = ("enforce-binding", "disable-binding")


def check_gres_flags(value: str) -> str:
    """Slurm's --gres-flags: 'enforce-binding' (only CPUs in the NUMA domains of the
    job's GPUs), 'disable-binding' (any CPUs, GPUs' domains not preferred); '': the
    GPUs' domains preferred."""
    text = value.strip().lower().replace("_", "-")
    if text in ("", *GRES_FLAGS):
        return text
    raise BindOptionError(f"gres_flags: {value!r} is not one of {', '.join(GRES_FLAGS)}")
