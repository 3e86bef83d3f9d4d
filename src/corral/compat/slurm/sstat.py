"""sstat: what a running job uses now, as its nodes' agents last sampled it.

corral measures a job's processes per node, not per step: the one `ID.batch` row
covers every process of the job (its steps' tasks included) on each of its nodes;
Max* and Min* name the node, Ave* average over the nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from corral.compat import frontend
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm import jobview as v
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.compat.timefmt import full
from corral.model.errors import InvalidRequest
from corral.model.jobid import parse_job_ref

PROG = "sstat"
TABLE = [
    Opt("jobs", "jobs", REQUIRED, "j"), Opt("format", "format", REQUIRED, "o"),
    Opt("fields", "format", REQUIRED), Opt("parsable", "parsable", NONE, "p"),
    Opt("parsable2", "parsable2", NONE, "P"), Opt("noheader", "noheader", NONE, "n"),
    Opt("allsteps", "ignored", NONE, "a"), Opt("helpformat", "helpformat", NONE, "e"),
    Opt("noconvert", "ignored", NONE), Opt("verbose", "ignored", NONE, "v"),
    Opt("version", "version", NONE, "V"), Opt("help", "help", NONE, "h"),
    Opt("usage", "help", NONE),
]
Get = Callable[[dict[str, Any]], str]


def _nodes(j: dict[str, Any]) -> dict[str, dict[str, float]]:
    return dict(j.get("live_usage") or {})


def _kib(mb: float) -> str:
    return f"{int(mb * 1024)}K"


def _extreme(j: dict[str, Any], key: str, pick: Callable[..., str]) -> tuple[str, float]:
    """The node with the largest (pick=max) or smallest value of `key`, and that value."""
    nodes = _nodes(j)
    if not nodes:
        return "", 0.0
    node = pick(nodes, key=lambda n: nodes[n].get(key, 0.0))
    return node, float(nodes[node].get(key, 0.0))


def _ave(key: str, j: dict[str, Any]) -> float:
    nodes = _nodes(j)
    return sum(float(u.get(key, 0.0)) for u in nodes.values()) / len(nodes) if nodes else 0.0


FIELDS: dict[str, tuple[int, Get]] = {
    "JobID": (12, lambda j: f"{v.job_id(j)}.batch"),
    "MaxRSS": (10, lambda j: _kib(_extreme(j, "max_rss_mb", max)[1])),
    "MaxRSSNode": (10, lambda j: _extreme(j, "max_rss_mb", max)[0]),
    "MaxRSSTask": (10, lambda j: "0"), "AveRSS": (10, lambda j: _kib(_ave("rss_mb", j))),
    "MaxVMSize": (10, lambda j: "0"), "AveVMSize": (10, lambda j: "0"),
    "AveCPU": (10, lambda j: full(_ave("cpu_time_s", j))),
    "MinCPU": (10, lambda j: full(_extreme(j, "cpu_time_s", min)[1])),
    "MinCPUNode": (10, lambda j: _extreme(j, "cpu_time_s", min)[0]),
    "MinCPUTask": (10, lambda j: "0"), "NTasks": (8, lambda j: str(len(_nodes(j)) or 1)),
    "TRESUsageInTot": (14, lambda j: "cpu={},mem={}".format(
        full(sum(float(u.get("cpu_time_s", 0.0)) for u in _nodes(j).values())),
        _kib(sum(float(u.get("max_rss_mb", 0.0)) for u in _nodes(j).values())))),
}
DEFAULT = "JobID,MaxVMSize,MaxRSS,MaxRSSNode,AveRSS,AveCPU,MinCPUNode,NTasks"


def sstat(argv: list[str]) -> int:
    found, operands = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "helpformat" in o:
        print(" ".join(FIELDS))
        return 0
    if "help" in o:
        print("Usage: sstat [-j] job[.step][,...] [-o fields] [-p|-P] [-n]")
        return 0
    specs = [s for text in [o.get("jobs") or "", *operands] for s in text.split(",") if s]
    if not specs:
        frontend.fail("You did not give me any jobs to look for")
    lower = {k.lower(): k for k in FIELDS}
    cols = []
    for name in [n.strip().split("%")[0] for n in (o.get("format") or DEFAULT).split(",")
                 if n.strip()]:
        if name.lower() not in lower:
            frontend.fail(f'Invalid field requested: "{name}"')
        cols.append(lower[name.lower()])
    rows = []
    with frontend.client() as c:
        for spec in specs:
            try:
                ref = parse_job_ref(spec, steps=True)
            except InvalidRequest:
                frontend.fail(f"Invalid job id: {spec}")
            base = spec.split(".")[0]
            job = c.job(c.resolve(ref)[0])
            if job["state"] not in ("RUNNING", "SUSPENDED", "COMPLETING"):
                frontend.fail(f"couldn't get steps for job {base} with status: Job/step already "
                              "completing or completed (sacct has its record)")
            rows.append(job)
    sep = "|" if "parsable" in o or "parsable2" in o else None
    lines = []
    if "noheader" not in o:
        lines.append(_line([(k, k) for k in cols], sep))
        if sep is None:
            lines.append(" ".join("-" * FIELDS[k][0] for k in cols))
    for j in rows:
        lines.append(_line([(k, FIELDS[k][1](j)) for k in cols], sep))
    for text in lines:
        print(text + ("|" if "parsable" in o and "parsable2" not in o and text else ""))
    return 0


def _line(cells: list[tuple[str, str]], sep: str | None) -> str:
    if sep is not None:
        return sep.join(value for _, value in cells)
    return " ".join(value[:FIELDS[k][0]].rjust(FIELDS[k][0]) for k, value in cells)


def main() -> None:
    frontend.run(PROG, sstat)


if __name__ == "__main__":
    main()
