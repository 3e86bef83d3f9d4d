"""sprio: the factors of each pending job's priority (corral's multifactor weights)."""

from __future__ import annotations

from typing import Any

from corral.compat import fmt, frontend
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm import jobview as v
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.model.errors import InvalidRequest
from corral.model.jobid import parse_job_id

PROG = "sprio"
TABLE = [
    Opt("noheader", "noheader", NONE, "h"), Opt("jobs", "jobs", REQUIRED, "j"),
    Opt("long", "long", NONE, "l"), Opt("norm", "norm", NONE, "n"),
    Opt("format", "format", REQUIRED, "o"), Opt("partition", "partition", REQUIRED, "p"),
    Opt("user", "user", REQUIRED, "u"), Opt("weights", "weights", NONE, "w"),
    Opt("sort", "ignored", REQUIRED, "S"), Opt("clusters", "ignored", REQUIRED, "M"),
    Opt("version", "version", NONE, "V"), Opt("help", "help", NONE),
    Opt("usage", "help", NONE),
]
DEFAULT = "%.15i %9r %.10Y %.10S %.10A %.10F %.10J %.10P %.10Q"
LONG = "%.15i %9r %.8u %.10Y %.10S %.10A %.10F %.10J %.10P %.10Q %.11N"


def _factor(key: str, norm: bool, weights: dict[str, float]) -> Any:
    def get(j: dict[str, Any]) -> str:
        value = float((j.get("priority_factors") or {}).get(key, 0.0))
        if norm:
            w = float(weights.get(key) or 0.0)
            return f"{value / w:.7f}" if w else "0.0000000"
        return str(round(value))
    return get


def _fields(norm: bool, weights: dict[str, float]) -> dict[str, tuple[str, Any]]:
    def total(j: dict[str, Any]) -> str:
        return f"{j.get('priority', 0.0):.7f}" if norm else str(round(j.get("priority", 0.0)))
    out: dict[str, tuple[str, Any]] = {
        "i": ("JOBID", lambda j: str(j.get("_label") or v.job_id(j))),
        "r": ("PARTITION", lambda j: str(j.get("partition", ""))),
        "u": ("USER", lambda j: str(j.get("user", ""))),
        "Y": ("PRIORITY", total), "S": ("SITE", lambda j: "0"),
        "A": ("AGE", _factor("age", norm, weights)),
        "F": ("FAIRSHARE", _factor("fairshare", norm, weights)),
        "J": ("JOBSIZE", _factor("size", norm, weights)),
        "P": ("PARTITION", _factor("partition", norm, weights)),
        "Q": ("QOS", _factor("qos", norm, weights)),
        "N": ("NICE", lambda j: str((j.get("spec") or {}).get("nice", 0))),
    }
    return out


def sprio(argv: list[str]) -> int:
    found, _ = parse(argv, TABLE)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o:
        print("Usage: sprio [-j jobid[,jobid...]] [-u user[,user...]] [-p partition] "
              "[-l] [-n] [-w] [-h] [-o format]")
        return 0
    with frontend.client() as c:
        weights = dict(c.status().get("weights") or {})
        if "weights" in o:
            cols = fmt.parse_percent("%.15i %9r %.10Y %.10S %.10A %.10F %.10J %.10P %.10Q",
                                     _fields(False, weights), prog=PROG)
            row = {"_label": "Weights", "id": 0, "partition": "", "priority": 0.0,
                   "priority_factors": weights}
            for text in fmt.render(cols, [row], header="noheader" not in o):
                print(text)
            return 0
        users = [u for u in (o.get("user") or "").split(",") if u]
        ids = [i for i in (o.get("jobs") or "").split(",") if i]
        for i in ids:
            try:
                parse_job_id(i)
            except InvalidRequest:
                frontend.fail(f"Invalid job id: {i}")
        jobs = c.jobs(state=["PENDING", "HELD"], user=users or None, id=ids or None)
    if o.get("partition"):
        parts = set(o["partition"].split(","))
        jobs = [j for j in jobs if j.get("partition") in parts]
    if ids and not jobs:
        frontend.fail("Unable to find jobs matching user/id(s) specified")
    try:
        cols = fmt.parse_percent(o.get("format") or (LONG if "long" in o else DEFAULT),
                                 _fields("norm" in o, weights), prog=PROG)
    except ValueError as e:
        frontend.fail(str(e))
    for text in fmt.render(cols, sorted(jobs, key=lambda j: j["id"]),
                           header="noheader" not in o):
        print(text)
    return 0


def main() -> None:
    frontend.run(PROG, sprio)


if __name__ == "__main__":
    main()
