"""A corral job dict seen as LSF shows it: states, times, ids `N` and `N[i]`."""

from __future__ import annotations

import re
import time
from typing import Any

from corral.compat import frontend
from corral.model.errors import CorralError

_ID = re.compile(r"^(\d+)(?:\[(\d+)\])?$")
# corral's states -> LSF's
_STATES = {"PENDING": "PEND", "HELD": "PSUSP", "RUNNING": "RUN", "COMPLETING": "RUN",
           "SUSPENDED": "USUSP", "COMPLETED": "DONE"}
UNFINISHED = ("PEND", "PSUSP", "RUN", "USUSP", "SSUSP")
SHIM_END = "# (LSF's variables end here)"  # the last line bsub adds to a script


def command(job: dict[str, Any]) -> str:
    """The job's command as bjobs shows it: its first line that is not a comment
    (nor bsub's own lines), or its argument vector."""
    spec = job.get("spec") or {}
    script = spec.get("script") or ""
    lines = script.splitlines()
    if SHIM_END in lines:
        lines = lines[lines.index(SHIM_END) + 1:]
    for line in lines:
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return " ".join(spec.get("argv") or []) or (lines[0] if lines else "")


def state(job: dict[str, Any]) -> str:
    return _STATES.get(job["state"], "EXIT")  # failed, cancelled, timed out, ...


def job_id(job: dict[str, Any]) -> int:
    """LSF shows an array's tasks under the array's id."""
    a = job.get("array_job_id")
    return int(a if a is not None else job["id"])


def full_id(job: dict[str, Any]) -> str:
    t = job.get("array_task_id")
    return f"{job_id(job)}[{t}]" if t is not None else str(job_id(job))


def name(job: dict[str, Any]) -> str:
    t = job.get("array_task_id")
    return f"{job['name']}[{t}]" if t is not None else str(job["name"])


def stamp(t: float | None) -> str:
    """`Nov 29 23:50`, LSF's short time; `-` when not known."""
    if t is None:
        return "-"
    lt = time.localtime(t)
    return time.strftime("%b ", lt) + f"{lt.tm_mday:2d}" + time.strftime(" %H:%M", lt)


def long_stamp(t: float | None) -> str:
    """`Sun Nov 29 23:50:00`, as bjobs -l starts its event lines."""
    return "-" if t is None else time.strftime("%a %b %d %H:%M:%S", time.localtime(t))


def exec_hosts(job: dict[str, Any]) -> list[str]:
    """`4*host` per host of a started job (LSF's EXEC_HOST), none before it starts."""
    if state(job) in ("PEND", "PSUSP") or not job.get("node_list"):
        return []
    per = int(job.get("cpus_per_node") or 1)
    return [h if per == 1 else f"{per}*{h}" for h in job["node_list"]]


def parse_ref(text: str, prog: str) -> tuple[int, int | None]:
    """`N` or `N[i]` (quoted or not)."""
    m = _ID.match(text.strip().strip("\"'"))
    if not m or int(m.group(1)) < 1 or int(m.group(1)) > 2**31 - 1:
        frontend.fail(f"{text}: Illegal job ID", 255)
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def split_options(argv: list[str], valued: set[str], flags: set[str], usage: str
                  ) -> tuple[dict[str, str], set[str], list[str]]:
    """LSF's query options: (option -> value, flags given, operands). `-h` prints
    `usage` and leaves; an unknown option is `-x: Illegal option`, exit 255."""
    values: dict[str, str] = {}
    given: set[str] = set()
    operands: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in valued:
            if i + 1 >= len(argv):
                frontend.fail(f"{a}: option requires an argument", 255)
            values[a] = argv[i + 1]
            i += 2
            continue
        if a in ("-h", "-help", "--help"):
            print(usage)
            raise frontend.Exit(0)
        if a in flags:
            given.add(a)
        elif a.startswith("-"):
            frontend.fail(f"{a}: Illegal option", 255)
        else:
            operands.append(a)
        i += 1
    return values, given, operands


def users_of(values: dict[str, str]) -> list[str] | None:
    """-u USER[,USER] or -u all (None: everyone); the caller's own by default."""
    u = values.get("-u")
    if u is None:
        return [frontend.me()]
    return None if u == "all" else u.split(",")


def jobs_for(c: Any, ref: tuple[int, int | None], history: bool = True) -> list[dict[str, Any]]:
    """The jobs a reference names: a job, all tasks of an array, or one task."""
    base, task = ref
    found = [j for j in c.jobs(array=[str(base)], expand_arrays=True, history=history)
             if j.get("array_job_id") == base]
    if found:
        return [j for j in found if task is None or j.get("array_task_id") == task]
    if task is not None:
        return []
    try:
        return [c.job(base)]
    except CorralError as e:
        if e.code == "not_found":
            return []
        raise
