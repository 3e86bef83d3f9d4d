"""The submit request from `corral submit`'s options (and #CORRAL directives).

No click here: the fast path of `corral submit` (corral.cli.entry) uses it too.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime
from typing import Any

from corral.model import hostlist
from corral.model.cpubind import (
    BindOptionError,
    check_core_type,
    check_cpu_bind,
    check_gres_flags,
)
from corral.model.errors import InvalidRequest
from corral.model.features import constraint_terms

_REL = re.compile(r"^now\+(\d+)\s*(s|sec|seconds?|m|min|minutes?|h|hours?|d|days?)?$", re.I)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_begin(text: str, now: float | None = None) -> float:
    now = time.time() if now is None else now
    t = text.strip()
    m = _REL.match(t)
    if m:
        unit = (m.group(2) or "s")[0].lower()
        ahead_s = int(m.group(1)) * _UNIT_S[unit]
        from corral.model.bounds import EPOCH_S, shown  # the job model: only when needed
        if now + min(ahead_s, EPOCH_S[1]) > EPOCH_S[1]:
            raise InvalidRequest(f"begin: {shown(text)} is later than the year 9999")
        return now + ahead_s
    if t.lower() == "now":
        return now
    if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", t):
        parts = [int(p) for p in t.split(":")] + [0]
        base = datetime.fromtimestamp(now).replace(hour=parts[0], minute=parts[1],
                                                   second=parts[2], microsecond=0)
        ts = base.timestamp()
        return ts if ts > now else ts + 86400
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise InvalidRequest(
            f"begin: {text!r} is not a time (use now+60, now+2hours, HH:MM or an ISO date)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.timestamp()


def _hosts(field: str, text: str) -> list[str]:
    try:
        names = hostlist.expand(text)
    except ValueError:
        names = []
    if not names:
        raise InvalidRequest(f"{field}: {text!r} is not a node list (use n1,n2 or n[1-4])")
    return list(dict.fromkeys(names))


def build_request(opts: dict[str, Any], *, script: str | None, argv: list[str],
                  default_name: str) -> dict[str, Any]:
    req: dict[str, Any] = {
        "name": opts.get("name") or default_name,
        "working_dir": os.path.abspath(opts.get("chdir") or os.getcwd()),
        "script": script,
        "argv": argv,
        "environment": dict(os.environ),
    }
    if opts.get("output"):
        req["stdout"] = opts["output"]
    if opts.get("error"):
        req["stderr"] = opts["error"]
    for key in ("partition", "account", "nice", "priority", "user"):
        if opts.get(key) is not None:
            req[key] = opts[key]
    if opts.get("nodes") is not None:
        req["nodes"] = opts["nodes"]
    if opts.get("cpus") is not None:
        req["cpus_per_node"] = opts["cpus"]
    if opts.get("gpus") is not None:
        req["gpus_per_node"] = opts["gpus"]
    if opts.get("mem") or opts.get("time"):
        from corral.model.units import parse_duration_s, parse_mem_mb
    if opts.get("mem"):
        req["mem_mb_per_node"] = parse_mem_mb("mem", opts["mem"])
    if opts.get("time"):  # UNLIMITED: 0, which is not "not given" (None)
        req["time_limit_s"] = parse_duration_s("time", opts["time"])
    if opts.get("hold"):
        req["hold"] = True
    if opts.get("begin"):
        req["t_begin"] = parse_begin(opts["begin"])
    if opts.get("constraint"):
        req["features"] = constraint_terms(opts["constraint"])
    for key in ("nodelist", "exclude"):
        if opts.get(key):
            req[key] = _hosts(key, opts[key])
    if opts.get("no_requeue"):
        req["requeue"] = False
    if opts.get("max_retries") is not None:
        req["max_retries"] = opts["max_retries"]
    if opts.get("retry_count") is not None:
        req["retry_count"] = opts["retry_count"]
    for key in ("requirements", "rank", "licenses", "gpu_type", "gres"):
        if opts.get(key):
            req[key] = opts[key]
    if opts.get("site"):  # sites are node attributes (docs/pilots.md)
        from corral.model.pilots import site_requirement
        req["requirements"] = site_requirement(opts["site"], req.get("requirements"))
    if opts.get("prefer_site"):
        from corral.model.pilots import site_rank
        req["rank"] = site_rank(opts["prefer_site"], req.get("rank"))
    for key in ("array", "dependency", "signal", "qos", "reservation"):
        if opts.get(key):
            req[key] = opts[key]
    if opts.get("kill_on_invalid_dep"):
        req["kill_on_invalid_dep"] = opts["kill_on_invalid_dep"] == "yes"
    if opts.get("exclusive"):
        req["exclusive"] = True
    if opts.get("credential"):
        req["credential"] = True
    for key, check in (("cpu_bind", check_cpu_bind), ("core_type", check_core_type),
                       ("gres_flags", check_gres_flags)):
        if opts.get(key):
            try:
                req[key] = check(opts[key]) or None
            except BindOptionError as exc:
                raise InvalidRequest(str(exc)) from None
    return req
