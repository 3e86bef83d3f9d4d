"""A site's corral configuration as replay settings (`corral sim --config`).

What the processor-count replay can take from `corral.toml`: the scheduler's
policy, its age and fair-share weights with the usage half-life (the queue is
then ordered by that multifactor priority), the predictive policy's predictor
and starvation guard (`predictor`, `starve_*`), and the machine size (the CPUs of
the configured nodes, when every node gives its count). The rest is named in
`SiteSettings.not_replayed` so that a report can say what it left out.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from corral.config import Config
from corral.model.errors import InvalidRequest


class SiteConfigError(ValueError):
    """The configuration file cannot be used."""


@dataclass(slots=True)
class SiteSettings:
    policy: str
    overrides: dict[str, str]
    procs: int | None  # None: not every node gives its CPUs
    not_replayed: list[str] = field(default_factory=list)
    # the predictive policy's settings ([scheduler] predictor, starve_*)
    guard: dict[str, Any] = field(default_factory=dict)


def read_site(path: str | Path) -> SiteSettings:
    p = Path(path)
    if not p.is_file():
        raise SiteConfigError(f"config {p}: no such file")
    try:
        with p.open("rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, OSError) as e:
        raise SiteConfigError(f"config {p}: {e}") from None
    data.setdefault("state_dir", str(p.parent))
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        if first["type"] == "extra_forbidden":
            raise SiteConfigError(f"config {p}: unknown key '{loc}'") from None
        got = first.get("input")
        raise SiteConfigError(f"config {p}: '{loc}': {first['msg']} (got {got!r})") from None
    except InvalidRequest as e:  # a duration that does not parse
        raise SiteConfigError(f"config {p}: {e}") from None
    return site_settings(cfg)


def site_settings(cfg: Config) -> SiteSettings:
    s = cfg.scheduler
    w = s.weights
    overrides: dict[str, str] = {}
    if w.fairshare > 0:
        overrides.update(
            queue_order="priority",
            prio_age=str(w.age),
            prio_fairshare=str(w.fairshare),
            prio_max_age_s=str(w.max_age_s),
            fs_half_life_s=str(s.fairshare_half_life_s),
        )
    cpus = [n.cpus for n in cfg.nodes]
    procs = sum(c for c in cpus if c) if cpus and all(cpus) else None
    left: list[str] = []
    for name in ("size", "partition", "nice", "qos"):
        if getattr(w, name) > 0:
            left.append(f"weights.{name}")
    if len(cfg.partitions) > 1:
        left.append("partitions")
    if cfg.qos:
        left.append("qos")
    if any(v for v in cfg.limits.model_dump().values()):
        left.append("limits")
    if any(a.shares != 1 for a in cfg.accounts):
        left.append("account shares (every user gets an equal share)")
    return SiteSettings(s.policy, overrides, procs, left, s.predictive_settings())
