"""sacct: the accounting record in Slurm's layouts (-o, -P, -p, -X, -n, -S/-E)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from corral.client import Client
from corral.compat import frontend, timefmt
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm import jobview as v
from corral.compat.slurm.sacct_fields import BRIEF, DEFAULT, FIELDS, LONG
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.model.arrays import listing_order
from corral.model.errors import InvalidRequest
from corral.model.jobid import JobRef, parse_job_ref

PROG = "sacct"
TABLE = [
    Opt("jobs", "jobs", REQUIRED, "j"), Opt("allocations", "allocations", NONE, "X"),
    Opt("parsable2", "parsable2", NONE, "P"), Opt("parsable", "parsable", NONE, "p"),
    Opt("noheader", "noheader", NONE, "n"), Opt("format", "format", REQUIRED, "o"),
    Opt("starttime", "starttime", REQUIRED, "S"), Opt("endtime", "endtime", REQUIRED, "E"),
    Opt("state", "state", REQUIRED, "s"), Opt("user", "user", REQUIRED, "u"),
    Opt("uid", "user"), Opt("allusers", "allusers", NONE, "a"),
    Opt("accounts", "accounts", REQUIRED, "A"), Opt("partition", "partition", REQUIRED, "r"),
    Opt("nodelist", "nodelist", REQUIRED, "N"), Opt("name", "name", REQUIRED),
    Opt("long", "long", NONE, "l"), Opt("brief", "brief", NONE, "b"),
    Opt("helpformat", "helpformat", NONE, "e"), Opt("delimiter", "delimiter", REQUIRED),
    Opt("json", "json", NONE), Opt("version", "version", NONE, "V"),
    Opt("help", "help", NONE, "h"), Opt("usage", "help", NONE),
    Opt("truncate", "ignored", NONE, "T"), Opt("duplicates", "ignored", NONE, "D"),
    Opt("allclusters", "ignored", NONE, "L"), Opt("clusters", "ignored", REQUIRED, "M"),
    Opt("units", "ignored", REQUIRED), Opt("noconvert", "ignored", NONE),
    Opt("verbose", "ignored", NONE, "v"), Opt("array", "ignored", NONE),
    Opt("qos", "ignored", REQUIRED, "q"), Opt("expand-array", "ignored", NONE),
]


_LISTS = ("jobs", "state", "user", "accounts", "partition", "nodelist", "name")


def _list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _columns(text: str) -> list[tuple[str, int, bool, Callable[[dict[str, Any]], str]]]:
    lower = {k.lower(): k for k in FIELDS}
    cols = []
    for item in _list(text):
        name, _, width = item.partition("%")
        key = lower.get(name.lower())
        if key is None:
            raise frontend.Exit(1, f"Invalid field requested: \"{name}\"")
        w, left, get = FIELDS[key]
        if width.lstrip("-").isdigit():
            left = left or width.startswith("-")
            w = abs(int(width))
        cols.append((key, w, left, get))
    return cols


def _fetch(o: dict[str, Any]) -> list[dict[str, Any]]:
    users = None if "allusers" in o else (_list(o.get("user")) or [frontend.me()])
    specs = _list(o.get("jobs"))
    with frontend.client() as c:
        if not specs:
            start, end = _bounds(o)  # the store reads only the window (its indexes)
            jobs = c.jobs(history=True, user=users, partition=_list(o.get("partition")) or None,
                          name=_list(o.get("name")) or None, ended_after=start,
                          submitted_before=end)
        else:
            refs = [r for r in map(_ref, specs) if r is not None]  # a bad id matches nothing
            if not refs:
                return []
            bases = sorted({r.job_id for r in refs})
            jobs = c.jobs(history=True, id=[str(b) for b in bases])
            heads = [j["id"] for j in jobs if j.get("array_job_id") == j["id"]]
            seen = {j["id"] for j in jobs}
            for head in heads:
                for t in c.jobs(history=True, array=str(head)):
                    if t.get("array_job_id") == head and t["id"] not in seen:
                        jobs.append(t)
                        seen.add(t["id"])
            jobs = [j for j in jobs if _wanted(j, refs)]
    return sorted(jobs, key=listing_order)


def _ref(spec: str) -> JobRef | None:
    try:
        return parse_job_ref(spec, steps=True)
    except InvalidRequest:
        return None


def _wanted(j: dict[str, Any], refs: list[JobRef]) -> bool:
    for r in refs:
        if r.tasks is None and r.job_id == j["id"]:
            return True
        if j.get("array_job_id") == r.job_id and (
                r.tasks is None or j.get("array_task_id") in r.tasks):
            return True
    return False


def _bounds(o: dict[str, Any]) -> tuple[float, float]:
    """-S (default: today's midnight) and -E (default: now)."""
    if o.get("starttime"):
        start = timefmt.parse_stamp(o["starttime"])
    else:
        start = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    end = timefmt.parse_stamp(o["endtime"]) if o.get("endtime") else time.time() + 1
    return max(0.0, start), max(0.0, end)


def _window(o: dict[str, Any], jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if o.get("jobs") and not (o.get("starttime") or o.get("endtime")):
        return jobs
    start, end = _bounds(o)
    return [j for j in jobs if j["t_submit"] <= end
            and (j.get("t_end") or time.time()) >= start]


STEP_ROWS_MAX_JOBS = 200  # beyond this many jobs, sacct lists no srun steps (one
# event-log read per job)


def _rows(jobs: list[dict[str, Any]], steps: bool) -> list[dict[str, Any]]:
    rows = []
    with_steps = steps and len(jobs) <= STEP_ROWS_MAX_JOBS
    with frontend.client() as c:
        for j in jobs:
            rows.append(j)
            if steps and j.get("t_start") is not None:
                rows.append(dict(j, name="batch", display_id=f"{v.job_id(j)}.batch",
                                 _step=".batch", node_list=(j.get("node_list") or [])[:1]))
                if with_steps:
                    rows.extend(_step_rows(c, j))
    return rows


def _step_rows(c: Client, j: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's srun steps, from its event log (their lasting record)."""
    steps: dict[int, dict[str, Any]] = {}
    for e in c.events(j["id"]):
        d = e.get("data") or {}
        if e["kind"] != "step" or not isinstance(d.get("step_id"), int):
            continue
        sid = d["step_id"]
        if d.get("action") == "start":
            if (j.get("t_start") or 0) > e["t"]:
                continue  # a step of an earlier run (before a requeue)
            steps[sid] = dict(j, name=d.get("name", ""), display_id=f"{v.job_id(j)}.{sid}",
                              _step=f".{sid}", node_list=d.get("nodes", []),
                              nodes=len(d.get("nodes", [])), t_start=e["t"], t_end=None,
                              state="RUNNING", exit_code=None, signal=None)
        elif sid in steps:
            steps[sid].update(t_end=e["t"], state=d.get("state", "COMPLETED"),
                              exit_code=d.get("exit_code"), signal=d.get("signal"))
    if j["state"] in v.FINAL:  # a step whose srun never said how it ended went with the job
        for row in steps.values():
            if row["state"] == "RUNNING":
                row.update(t_end=j.get("t_end"), state="CANCELLED")
    return [steps[k] for k in sorted(steps)]


def sacct(argv: list[str]) -> int:
    found, operands = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    for dest in _LISTS:  # as in Slurm, `-j 1 -j 2` asks for both (submitit does this)
        values = [value for opt, value in found if opt.dest == dest and value]
        if len(values) > 1:
            o[dest] = ",".join(values)
    if operands:
        raise frontend.Exit(1, f"Unknown arguments: {' '.join(operands)}")
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "helpformat" in o:
        names = list(FIELDS)
        for i in range(0, len(names), 4):
            print("".join(f"{n:<20}" for n in names[i:i + 4]).rstrip())
        return 0
    if "help" in o:
        print("Usage: sacct [-j jobs] [-X] [-P|-p] [-n] [-o fields] [-S time] [-E time]\n"
              "             [-s states] [-u users | -a] [-r partitions] [--name names]")
        return 0
    fmt_text = o.get("format") or (LONG if "long" in o else BRIEF if "brief" in o else DEFAULT)
    cols = _columns(fmt_text)
    jobs = _window(o, _fetch(o))
    if o.get("state"):
        states = {v.slurm_state_name(s) for s in _list(o["state"])}
        states |= {s[:2] for s in states}
        jobs = [j for j in jobs if v.state(j) in states or v.state_code(j) in states]
    if o.get("accounts"):
        jobs = [j for j in jobs if j.get("account") in _list(o["accounts"])]
    if o.get("nodelist"):
        from corral.model import hostlist
        want = set(hostlist.expand(o["nodelist"]))
        jobs = [j for j in jobs if want & set(j.get("node_list") or [])]
    if "json" in o:
        print(json.dumps({"jobs": jobs}, indent=2))
        return 0
    rows = _rows(jobs, steps="allocations" not in o)
    parsable = "parsable" in o or "parsable2" in o
    if parsable:
        delim = o.get("delimiter") or "|"
        tail = delim if "parsable" in o and "parsable2" not in o else ""
        if "noheader" not in o:
            print(delim.join(c[0] for c in cols) + tail)
        for r in rows:
            print(delim.join(c[3](r) for c in cols) + tail)
        return 0
    if "noheader" not in o:
        print(" ".join(f"{c[0]:>{c[1]}}" if len(c[0]) <= c[1] else c[0][:c[1]]
                       for c in cols) + " ")
        print(" ".join("-" * c[1] for c in cols) + " ")
    for r in rows:
        cells = []
        for _, w, left, get in cols:
            text = get(r)
            if len(text) > w:
                text = text[:w - 1] + "+"
            cells.append(text.ljust(w) if left else text.rjust(w))
        print(" ".join(cells) + " ")
    return 0


def main() -> None:
    frontend.run(PROG, sacct, error_prefix="sacct: error: ")


if __name__ == "__main__":
    main()
