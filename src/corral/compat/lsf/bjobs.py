"""bjobs: jobs as LSF lists them (default table, -w, -l, -o "fields", -json)."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from corral.compat import frontend
from corral.compat.lsf import view
from corral.model.arrays import listing_order

PROG = "bjobs"
CLEAN_PERIOD_S = 3600  # how long LSF lists a finished job (its default)
Row = dict[str, Any]


def _exit_code(j: Row) -> str:
    st = view.state(j)
    if st in view.UNFINISHED or st == "DONE":
        return "-"
    return str(j.get("exit_code") if j.get("exit_code") is not None else "-")


def _run_time(j: Row) -> str:
    if j.get("t_start") is None:
        return "0 second(s)"
    end = j.get("t_end") or time.time()
    return f"{int(end - j['t_start'])} second(s)"


def _mem(mb: float | None) -> str:
    if mb is None:
        return "-"
    return f"{mb / 1024:.1f} Gbytes" if mb >= 1024 else f"{mb:.0f} Mbytes"


# -o field -> (header, value); aliases map to these names
FIELDS: dict[str, tuple[str, Callable[[Row], str]]] = {
    "jobid": ("JOBID", lambda j: str(view.job_id(j))),
    "jobindex": ("JOBINDEX", lambda j: str(j.get("array_task_id") or 0)),
    "stat": ("STAT", view.state),
    "user": ("USER", lambda j: str(j["user"])),
    "queue": ("QUEUE", lambda j: str(j["partition"])),
    "job_name": ("JOB_NAME", view.name),
    "proj_name": ("PROJ_NAME", lambda j: str(j.get("account") or "default")),
    "from_host": ("FROM_HOST", lambda j: "-"),
    "exec_host": ("EXEC_HOST", lambda j: ":".join(view.exec_hosts(j)) or "-"),
    "first_host": ("FIRST_HOST", lambda j: (j.get("node_list") or ["-"])[0]
                   if view.exec_hosts(j) else "-"),
    "nexec_host": ("NEXEC_HOST", lambda j: str(len(view.exec_hosts(j)))),
    "submit_time": ("SUBMIT_TIME", lambda j: view.stamp(j.get("t_submit"))),
    "start_time": ("START_TIME", lambda j: view.stamp(j.get("t_start"))),
    "finish_time": ("FINISH_TIME", lambda j: view.stamp(j.get("t_end"))),
    "run_time": ("RUN_TIME", _run_time),
    "exit_code": ("EXIT_CODE", _exit_code),
    "slots": ("SLOTS", lambda j: str(j["cpus"])),
    "nreq_slot": ("NREQ_SLOT", lambda j: str(j["cpus"])),
    "min_req_proc": ("MIN_REQ_PROC", lambda j: str(j["cpus"])),
    "max_req_proc": ("MAX_REQ_PROC", lambda j: str(j["cpus"])),
    "runtimelimit": ("RUNTIMELIMIT", lambda j: f"{j['time_limit_s'] / 60:.1f}"
                     if j.get("time_limit_s") else "-"),
    "memlimit": ("MEMLIMIT", lambda j: _mem(j.get("mem_mb_per_node"))),
    "max_mem": ("MAX_MEM", lambda j: _mem(j.get("max_rss_mb"))),
    "cpu_used": ("CPU_USED", lambda j: f"{float(j.get('cpu_time_s') or 0):.1f} second(s)"),
    "pend_reason": ("PEND_REASON", lambda j: str(j.get("reason") or "")
                    if view.state(j) in ("PEND", "PSUSP") else ""),
    "dependency": ("DEPENDENCY", lambda j: str(j.get("dependency") or "")),
    "cwd": ("CWD", lambda j: str(j["working_dir"])),
    "command": ("COMMAND", view.command),
    "output_file": ("OUTPUT_FILE", lambda j: str(j["stdout"])),
    "error_file": ("ERROR_FILE", lambda j: str(j["stderr"])),
    "gpu_num": ("GPU_NUM", lambda j: str(j.get("gpus_per_node") or 0)),
}
ALIASES = {"id": "jobid", "st": "stat", "name": "job_name", "proj": "proj_name",
           "project": "proj_name", "exit_code": "exit_code", "submit_time": "submit_time",
           "nthreads": "slots", "alloc_slot": "slots", "q": "queue", "from": "from_host",
           "exec": "exec_host", "limit": "runtimelimit"}


def parse_format(text: str) -> tuple[list[tuple[str, int | None, bool]], str | None]:
    """`jobid stat:8 queue:-10 delimiter=','` -> [(field, width, right)], delimiter."""
    delim = None
    m = re.search(r"""delimiter\s*=\s*(['"])(.*?)\1""", text)
    if m:
        delim = m.group(2)
        text = text[:m.start()] + text[m.end():]
    cols = []
    for item in text.replace(",", " ").split():
        key, _, size = item.partition(":")
        key = ALIASES.get(key.lower(), key.lower())
        if key not in FIELDS:
            frontend.fail(f"Output format error: Unknown field name <{item}>", 255)
        right = size.startswith("-")
        size = size.lstrip("-")
        cols.append((key, int(size) if size.isdigit() else None, right))
    if not cols:
        frontend.fail("Output format error: no field given", 255)
    return cols, delim


def _custom(jobs: list[Row], fmt: str, header: bool) -> list[str]:
    cols, delim = parse_format(fmt)
    sep = " " if delim is None else delim

    def cell(text: str, width: int | None, right: bool) -> str:
        if width is None or delim is not None:
            return text
        text = text[:width]
        return text.rjust(width) if right else text.ljust(width)

    out = []
    if header:
        out.append(sep.join(cell(FIELDS[k][0], w, r) for k, w, r in cols).rstrip())
    for j in jobs:
        out.append(sep.join(cell(FIELDS[k][1](j), w, r) for k, w, r in cols).rstrip())
    return out


def _json(jobs: list[Row], fmt: str | None) -> str:
    keys = [k for k, _, _ in parse_format(fmt)[0]] if fmt else [
        "jobid", "user", "stat", "queue", "from_host", "exec_host", "job_name", "submit_time"]
    records = [{FIELDS[k][0]: FIELDS[k][1](j) for k in keys} for j in jobs]
    return json.dumps({"COMMAND": "bjobs", "JOBS": len(records), "RECORDS": records}, indent=2)


def _trim(text: str, width: int, wide: bool) -> str:
    """LSF cuts a long value to its column, marking the cut with '*' in front."""
    if wide or len(text) <= width:
        return text
    return "*" + text[-(width - 1):]


def _table(jobs: list[Row], wide: bool) -> list[str]:
    out = ["JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME"]
    for j in jobs:
        hosts = view.exec_hosts(j) or [""]
        out.append(
            f"{view.job_id(j):<7} {_trim(j['user'], 7, wide):<7} {view.state(j):<5} "
            f"{_trim(j['partition'], 10, wide):<10} {'-':<11} "
            f"{_trim(hosts[0], 11, wide):<11} {_trim(view.name(j), 10, wide):<10} "
            f"{view.stamp(j.get('t_submit'))}".rstrip())
        out.extend(f"{'':<46}{h}" for h in hosts[1:])
    return out


def _long(j: Row) -> list[str]:
    command = view.command(j)
    lines = [f"Job <{view.full_id(j)}>, Job Name <{view.name(j)}>, User <{j['user']}>, "
             f"Project <{j.get('account') or 'default'}>, Status <{view.state(j)}>, "
             f"Queue <{j['partition']}>, Command <{command}>",
             f"{view.long_stamp(j.get('t_submit'))}: Submitted from host <->, "
             f"CWD <{j['working_dir']}>, Output File <{j['stdout']}>, "
             f"Requested {j['cpus']} Task(s);"]
    if j.get("t_start") is not None and j.get("node_list"):
        hosts = ", ".join(f"<{h}>" for h in view.exec_hosts(j))
        lines.append(f"{view.long_stamp(j['t_start'])}: Started {j['cpus']} Task(s) on "
                     f"Host(s) {hosts}, Allocated {j['cpus']} Slot(s) on Host(s) {hosts}, "
                     f"Execution CWD <{j['working_dir']}>;")
    st = view.state(j)
    if st == "DONE":
        lines.append(f"{view.long_stamp(j.get('t_end'))}: Done successfully. The CPU time "
                     f"used is {float(j.get('cpu_time_s') or 0):.1f} seconds.")
    elif st == "EXIT":
        how = f"Exited with exit code {j['exit_code']}" if j.get("exit_code") else \
            f"Exited ({j['state'].lower()})"
        lines.append(f"{view.long_stamp(j.get('t_end'))}: {how}. The CPU time used is "
                     f"{float(j.get('cpu_time_s') or 0):.1f} seconds.")
    if j.get("time_limit_s"):
        lines += ["", " RUNLIMIT", f" {j['time_limit_s'] / 60:.1f} min"]
    if j.get("mem_mb_per_node"):
        lines += ["", " MEMLIMIT", f" {j['mem_mb_per_node']} M"]
    if st in ("PEND", "PSUSP"):
        lines += ["", " PENDING REASONS:", f" {j.get('reason') or 'Job is pending'};"]
    return lines


def bjobs(argv: list[str]) -> int:
    values, given, operands = view.split_options(
        argv, {"-u", "-q", "-J", "-m", "-o", "-G", "-g", "-P", "-app", "-sla", "-Lp"},
        {"-a", "-d", "-r", "-p", "-pi", "-pe", "-pei", "-pl", "-psum", "-s", "-w", "-W",
         "-UF", "-l", "-json", "-noheader", "-A", "-x", "-X", "-aff", "-hostfile", "-N",
         "-prio", "-sum"},
        "usage: bjobs [-a|-d|-p|-r|-s] [-l|-w|-o fmt [-json]] [-noheader] "
        "[-u user|all] [-q queue] [-J name] [-m host] [job_ID ...]")
    users = view.users_of(values)
    queue, job_name, host, fmt = (values.get(k) for k in ("-q", "-J", "-m", "-o"))
    want = "unfinished"
    for flag, kind in (("-a", "all"), ("-d", "done"), ("-r", "running"), ("-s", "suspended"),
                       *((p, "pending") for p in ("-p", "-pi", "-pe", "-pei", "-pl",
                                                  "-psum"))):
        if flag in given:
            want = kind
    wide = bool(given & {"-w", "-W", "-UF"})
    long_form, as_json, header = "-l" in given, "-json" in given, "-noheader" not in given
    refs = [view.parse_ref(a, PROG) for a in operands]
    if fmt is not None:
        parse_format(fmt)  # a bad format is said before anything is asked
    code = 0
    with frontend.client() as c:
        if refs:
            jobs: list[Row] = []
            for ref in refs:
                found = view.jobs_for(c, ref)
                if not found:
                    shown_id = f"{ref[0]}[{ref[1]}]" if ref[1] is not None else str(ref[0])
                    print(f"Job <{shown_id}> is not found", file=sys.stderr)
                    code = 255
                jobs.extend(found)
        else:
            filters: dict[str, Any] = {"user": users}
            if queue:
                filters["partition"] = [queue]
            if job_name:
                filters["name"] = [job_name]
            # the default table shows only what the brief view has
            jobs = list(c.jobs(history=want in ("all", "done"), expand_arrays=True,
                               brief=not (long_form or as_json or fmt is not None),
                               **filters))
            keep = {"unfinished": view.UNFINISHED, "running": ("RUN",),
                    "pending": ("PEND", "PSUSP"), "suspended": ("USUSP", "SSUSP", "PSUSP"),
                    "done": ("DONE", "EXIT")}.get(want)
            if keep is not None:
                jobs = [j for j in jobs if view.state(j) in keep]
            if want in ("all", "done"):  # finished ones for CLEAN_PERIOD (an hour)
                since = time.time() - CLEAN_PERIOD_S
                jobs = [j for j in jobs if view.state(j) in view.UNFINISHED
                        or (j.get("t_end") or since) >= since]
    if host:
        jobs = [j for j in jobs if host in (j.get("node_list") or [])]
    jobs.sort(key=lambda j: (view.state(j) not in ("RUN", "USUSP", "SSUSP"),
                             listing_order(j)))
    if not jobs:
        if not refs:
            what = {"all": "job", "done": "done job", "running": "running job",
                    "pending": "pending job", "suspended": "suspended job"}.get(
                        want, "unfinished job")
            print(f"No {what} found", file=sys.stderr)
        return code
    if as_json:
        print(_json(jobs, fmt))
    elif fmt is not None:
        print("\n".join(_custom(jobs, fmt, header)))
    elif long_form:
        print(("\n" + "-" * 78 + "\n\n").join("\n".join(_long(j)) for j in jobs))
    else:
        lines = _table(jobs, wide)
        print("\n".join(lines if header else lines[1:]))
    return code


def main() -> None:
    frontend.run(PROG, bjobs, error_prefix="")


if __name__ == "__main__":
    main()
