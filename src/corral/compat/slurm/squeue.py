"""squeue: the queue in Slurm's layouts (`-o` letters, `-O` names, `-l`, `-h`)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from corral.compat import fmt, frontend
from corral.compat.options import NONE, OPTIONAL, REQUIRED, Opt, collect, parse
from corral.compat.slurm import jobview as v
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.compat.slurm.squeue_fields import BRIEF_GETTERS, DEFAULT, LETTERS, LONG, NAMED
from corral.model import hostlist
from corral.model.arrays import listing_order
from corral.model.errors import InvalidRequest
from corral.model.jobid import parse_job_ref, split_ids
from corral.model.units import format_clock_s

PROG = "squeue"
TABLE = [
    Opt("account", "account", REQUIRED, "A"), Opt("all", "all", NONE, "a"),
    Opt("array", "array", NONE, "r"), Opt("noheader", "noheader", NONE, "h"),
    Opt("jobs", "jobs", REQUIRED, "j"), Opt("long", "long", NONE, "l"),
    Opt("name", "name", REQUIRED, "n"), Opt("format", "format", REQUIRED, "o"),
    Opt("Format", "Format", REQUIRED, "O"), Opt("partition", "partition", REQUIRED, "p"),
    Opt("states", "states", REQUIRED, "t"), Opt("user", "user", REQUIRED, "u"),
    Opt("me", "me", NONE), Opt("sort", "sort", REQUIRED, "S"),
    Opt("nodelist", "nodelist", REQUIRED, "w"), Opt("json", "json", NONE),
    Opt("version", "version", NONE, "V"), Opt("help", "help", NONE),
    Opt("usage", "usage", NONE), Opt("steps", "steps", OPTIONAL, "s"),
    Opt("iterate", "ignored", REQUIRED, "i"), Opt("clusters", "ignored", REQUIRED, "M"),
    Opt("qos", "ignored", REQUIRED, "q"), Opt("reservation", "ignored", REQUIRED, "R"),
    Opt("noconvert", "ignored", NONE), Opt("verbose", "ignored", NONE, "v"),
    Opt("start", "ignored", NONE), Opt("hide", "ignored", NONE),
    Opt("federation", "ignored", NONE), Opt("local", "ignored", NONE),
    Opt("sibling", "ignored", NONE), Opt("array-unique", "ignored", NONE),
    Opt("only-job-state", "only_state", NONE),
]
# What --only-job-state may be given with (as Slurm's squeue: ids, states, printing)
ONLY_STATE_WITH = {"only_state", "jobs", "states", "format", "Format", "noheader", "sort",
                   "array", "json", "ignored"}
ONLY_STATE_FORMAT = "%.18i %.2t"
ACTIVE = {"PENDING", "RUNNING", "SUSPENDED", "COMPLETING"}


def _list(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _id_matcher(specs: list[str]) -> Any:
    """-j 12,13_4,15: a job, an array task or a whole array."""
    wanted: set[tuple[int, int | None]] = set()
    for s in specs:
        try:
            ref = parse_job_ref(s)
        except InvalidRequest:
            frontend.fail("Invalid job id: " + s, 1)
        if ref.tasks is None:
            wanted.add((ref.job_id, None))
        else:
            wanted.update((ref.job_id, t) for t in ref.tasks)

    def match(j: dict[str, Any]) -> bool:
        arr, t = j.get("array_job_id"), j.get("array_task_id")
        return ((j["id"], None) in wanted or (arr is not None and (
            (arr, None) in wanted or (arr, t) in wanted)))
    return match


def select(o: dict[str, Any], *, brief: bool = False) -> list[dict[str, Any]]:
    users = _list(o.get("user"))
    if "me" in o:
        users.append(frontend.me())
    ids = split_ids([o.get("jobs") or ""])
    match = _id_matcher(ids)  # a bad id fails before asking the controller
    filters: dict[str, Any] = {"user": users or None,
                               "partition": _list(o.get("partition")) or None,
                               "name": _list(o.get("name")) or None}
    # an array's pending rest comes as one entry; -r, or a task asked for, lists each
    filters["expand_arrays"] = "array" in o or any("_" in s for s in ids)
    filters["brief"] = brief
    with frontend.client() as c:
        bases = sorted({str(parse_job_ref(s).job_id) for s in ids})
        if ids:  # ask only for these jobs and arrays
            found = {j["id"]: j for j in c.jobs(id=bases, **filters)}
            found.update((j["id"], j) for j in c.jobs(array=bases, **filters))
            jobs: list[dict[str, Any]] = list(found.values())
        else:
            jobs = list(c.jobs(**filters))
    jobs.sort(key=listing_order)
    if ids:
        jobs = [j for j in jobs if match(j)]
        if not jobs and len(ids) == 1:
            raise frontend.Exit(1, "slurm_load_jobs error: Invalid job id specified")
    states = {v.slurm_state_name(s) for s in _list(o.get("states"))}
    if "ALL" not in states:
        if states:
            jobs = [j for j in jobs if v.state(j) in states]
        elif not ids:
            jobs = [j for j in jobs if v.state(j) in ACTIVE]
    if o.get("account"):
        accounts = set(_list(o["account"]))
        jobs = [j for j in jobs if j.get("account") in accounts]
    if o.get("nodelist"):
        from corral.model import hostlist
        want = set(hostlist.expand(o["nodelist"]))
        jobs = [j for j in jobs if want & set(j.get("node_list") or [])]
    return jobs


def collapse(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pending tasks of one array in the same state and reason -> one `A_[1-5]` row."""
    out: list[dict[str, Any]] = []
    groups: dict[tuple[int, str, str], dict[str, Any]] = {}
    for j in jobs:
        arr = j.get("array_job_id")
        if j.get("array_pending"):  # the controller's own one entry for the rest
            out.append(dict(j, _task_range=j["display_id"].partition("_")[2].strip("[]")))
            continue
        if arr is None or j["state"] not in ("PENDING", "HELD"):
            out.append(j)
            continue
        key = (arr, j["state"], str(j.get("reason")))
        if key in groups:
            groups[key]["_tasks"].append(j["array_task_id"])
            continue
        row = dict(j, _tasks=[j["array_task_id"]])
        groups[key] = row
        out.append(row)
    for row in groups.values():
        tasks = sorted(row.pop("_tasks"))
        if len(tasks) > 1:
            rng = _ranges(tasks) + _throttle(row)
            row["display_id"] = f"{row['array_job_id']}_[{rng}]"
            row["_task_range"] = rng
    return out


def _throttle(job: dict[str, Any]) -> str:
    """`%N` when the array runs at most N tasks at once (Slurm shows it: `7_[2-9%2]`)."""
    text = job.get("array_spec") or (job.get("spec") or {}).get("array") or ""
    limit = str(text).partition("%")[2]
    return f"%{limit}" if limit.isdigit() else ""


def _ranges(nums: list[int]) -> str:
    parts, start, prev = [], nums[0], nums[0]
    for n in [*nums[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(parts)


_SORT_KEYS = {"i": "id", "A": "id", "j": "name", "u": "user", "P": "partition",
              "t": "state", "T": "state", "p": "priority", "Q": "priority", "V": "t_submit",
              "S": "t_start", "M": "t_start", "D": "nodes", "C": "cpus"}


def _sort_key(field: str) -> Callable[[dict[str, Any]], Any]:
    if field in ("name", "user", "partition", "state"):
        return lambda j: str(j.get(field))
    return lambda j: float(j.get(field) or 0)


def _sort(jobs: list[dict[str, Any]], spec: str) -> list[dict[str, Any]]:
    for key in reversed(_list(spec)):
        desc = key.startswith("-")
        field = _SORT_KEYS.get(key.lstrip("+-"))
        if field:
            jobs.sort(key=_sort_key(field), reverse=desc)
    return jobs


def squeue(argv: list[str]) -> int:
    found, operands = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if operands:
        raise frontend.Exit(1, f"squeue: error: Unrecognized option: {operands[0]}")
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o or "usage" in o:
        print("Usage: squeue [-A account] [--clusters names] [-i seconds] [--job jobid]\n"
              "              [-n name] [-o format] [-O fields] [-p partitions] [-t states]\n"
              "              [-u user_name] [--me] [--noheader] [-l] [-r] [-S fields]\n"
              "              [--only-job-state]")
        return 0
    if "only_state" in o and set(o) - ONLY_STATE_WITH:
        raise frontend.Exit(1, "squeue: fatal: Option --only-job-state only works alone, "
                            "with -j (--jobs) and/or -t (--states) parameters, parameters "
                            "for cluster/federation selection, and the printing options.")
    jobs = select(o, brief="json" not in o and _brief_layout(o))
    if "json" in o:
        print(json.dumps({"jobs": jobs}, indent=2))
        return 0
    if "steps" in o:
        _steps(jobs, header="noheader" not in o)
        return 0
    if "array" not in o:
        jobs = collapse(jobs)
    if o.get("sort"):
        jobs = _sort(jobs, o["sort"])
    try:
        cols = _columns(o, invalid=lambda letter: print(
            f"squeue: error: Invalid job format specification: {letter}", file=sys.stderr))
    except ValueError as e:
        raise frontend.Exit(1, f"squeue: error: {e}") from None
    for text in fmt.render(cols, jobs, header="noheader" not in o):
        print(text)
    return 0


def _columns(o: dict[str, Any], invalid: Callable[[str], None]) -> list[fmt.Column]:
    """The layout asked for (-O, -o, SQUEUE_FORMAT2, SQUEUE_FORMAT, -l, the default)."""
    if o.get("Format") or (not o.get("format") and os.environ.get("SQUEUE_FORMAT2")):
        return fmt.parse_named(o.get("Format") or os.environ["SQUEUE_FORMAT2"], NAMED,
                               sep="")
    text = o.get("format") or os.environ.get("SQUEUE_FORMAT") \
        or (ONLY_STATE_FORMAT if "only_state" in o else LONG if "long" in o else DEFAULT)
    return fmt.parse_percent(text, LETTERS, invalid=invalid)


def _brief_layout(o: dict[str, Any]) -> bool:
    """Does the layout show only what the brief view has? (A layout that does not
    parse is told about once its jobs are listed.)"""
    try:
        cols = _columns(o, invalid=lambda letter: None)
    except ValueError:
        return False
    return all(c.get is None or c.get in BRIEF_GETTERS for c in cols)


def _steps(jobs: list[dict[str, Any]], *, header: bool) -> None:
    """-s: the running steps (srun) of the selected jobs."""
    if header:
        print(f"{'STEPID':>15} {'NAME':>8} {'PARTITION':>9} {'USER':>8} {'TIME':>9} NODELIST")
    now = time.time()
    with frontend.client() as c:
        for j in jobs:
            if j["state"] != "RUNNING":
                continue
            for st in c.steps(j["id"]):
                if st["state"] != "RUNNING":
                    continue
                print(f"{v.job_id(j) + '.' + str(st['step_id']):>15} {st['name'][:8]:>8} "
                      f"{j['partition'][:9]:>9} {j['user'][:8]:>8} "
                      f"{format_clock_s(now - st['t_start']):>9} "
                      f"{hostlist.compress(st['nodes'])}")


def main() -> None:
    frontend.run(PROG, squeue, error_prefix="")


if __name__ == "__main__":
    main()
