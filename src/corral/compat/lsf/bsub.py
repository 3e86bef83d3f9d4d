"""bsub: submit a job the way LSF's bsub does (`bsub < script`, `bsub [options] command`)."""

from __future__ import annotations

import math
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from corral.compat import frontend
from corral.compat.lsf import bsubopts as bo
from corral.compat.lsf import view
from corral.model.bounds import MAX_NAME_LEN
from corral.model.errors import CorralError
from corral.model.states import FINAL_JOB_STATES

PROG = "bsub"
FINAL = frozenset(str(s) for s in FINAL_JOB_STATES)


def shim(total_slots: int, array_end: str) -> str:
    """Shell lines giving the job LSF's variables (LSB_JOBID, LSB_HOSTS, ...)."""
    return (
        'LSB_HOSTS=""; LSB_MCPU_HOSTS=""\n'
        'for __h in $(echo "$CORRAL_NODELIST" | tr , " "); do __i=0\n'
        '  while [ "$__i" -lt "${CORRAL_CPUS_ON_NODE:-1}" ]; do '
        'LSB_HOSTS="$LSB_HOSTS $__h"; __i=$((__i + 1)); done\n'
        '  LSB_MCPU_HOSTS="$LSB_MCPU_HOSTS $__h ${CORRAL_CPUS_ON_NODE:-1}"\n'
        'done; unset __h __i\n'
        'export LSB_HOSTS="${LSB_HOSTS# }" LSB_MCPU_HOSTS="${LSB_MCPU_HOSTS# }" '
        'LSB_JOBID="${SLURM_ARRAY_JOB_ID:-$CORRAL_JOB_ID}" '
        'LSB_JOBINDEX="${SLURM_ARRAY_TASK_ID:-0}" '
        f'LSB_JOBINDEX_END="{array_end}" '
        'LSB_JOBNAME="$CORRAL_JOB_NAME" LSB_QUEUE="$CORRAL_JOB_PARTITION" '
        f'LSB_DJOB_NUMPROC="{total_slots}" LSB_MAX_NUM_PROCESSORS="{total_slots}" '
        'LS_SUBCWD="$CORRAL_SUBMIT_DIR" LS_EXECCWD="$(pwd)"\n'
        f"{view.SHIM_END}\n"
    )


def _array_end(spec: str | None) -> str:
    if not spec:
        return "0"
    ends = [int(n) for part in spec.split("%")[0].split(",")
            for n in part.split(":")[0].split("-")[-1:] if n.isdigit()]
    return str(max(ends)) if ends else "0"


def build(p: bo.Parsed, script: str, default_name: str, warn: list[str],
          largest_node_cpus: int | None = None) -> dict[str, Any]:
    """The submission request for these options and this (shim-less) script."""
    for opt, _ in p.opts:
        if opt in bo.INTERACTIVE:
            raise bo.BsubError(f"{opt}: interactive jobs are not run by bsub in corral; "
                               "use `srun --pty` or `salloc`")
        if opt in bo.IGNORED and f"option {opt} is ignored by corral" not in warn:
            warn.append(f"option {opt} is ignored by corral")
    unit = bo.lsf_mem_unit()
    shape = bo.Shape()
    if p.last("-n") is not None:
        shape.slots = bo.slots(p.last("-n") or "")
    bo.resources(p.all("-R"), shape, unit, warn)
    if p.last("-gpu") is not None:
        shape.gpus = bo.gpu_option(p.last("-gpu") or "")
    nodes, per_node = 1, shape.slots
    if shape.ptile is not None and not shape.one_host:
        nodes = math.ceil(shape.slots / shape.ptile)
        per_node = min(shape.ptile, shape.slots)
    elif not shape.one_host and largest_node_cpus and shape.slots > largest_node_cpus:
        nodes = math.ceil(shape.slots / largest_node_cpus)  # spread, as LSF may
        per_node = math.ceil(shape.slots / nodes)
    name, array = default_name, None
    if p.last("-J") is not None:
        name, array = bo.array(p.last("-J") or "")
        name = name or default_name
    per_task = "%J.%I" if array else "%J"
    cwd = p.last("-cwd") or os.getcwd()
    req: dict[str, Any] = {
        "name": name, "working_dir": os.path.abspath(os.path.expanduser(cwd)),
        "script": frontend.with_shell_lines(script, shim(nodes * per_node, _array_end(array))),
        "environment": bo.environment(p.last("-env")),
        "nodes": nodes, "cpus_per_node": per_node,
    }
    out = p.last("-oo") or p.last("-o")
    err = p.last("-eo") or p.last("-e")
    req["stdout"] = bo.output_path(out, f"{per_task}.out") if out else \
        bo.output_path(f"{per_task}.out", "")
    if err:
        req["stderr"] = bo.output_path(err, f"{per_task}.err")
    if p.last("-q"):
        req["partition"] = (p.last("-q") or "").split()[0]
    if p.last("-P"):
        req["account"] = p.last("-P")
    if p.last("-W") is not None:
        req["time_limit_s"] = bo.run_limit_s(p.last("-W") or "")
    limits = [bo.mem_mb("-M", p.last("-M") or "", unit or "K")] if p.last("-M") is not None else []
    if shape.mem_mb is not None:
        limits.append(shape.mem_mb)
    if limits:
        req["mem_mb_per_node"] = min(limits)
    if shape.gpus:
        req["gpus_per_node"] = shape.gpus
    if shape.features:
        req["features"] = shape.features
    if p.last("-m"):
        hosts = [h for h in (p.last("-m") or "").split() if h not in ("others", "+")]
        req["nodelist"] = hosts
    if p.has("-x"):
        req["exclusive"] = True
    if p.has("-H"):
        req["hold"] = True
    if p.last("-b") is not None:
        req["t_begin"] = bo.begin_time(p.last("-b") or "")
    if array:
        req["array"] = array
    return req


def read_job(p: bo.Parsed) -> tuple[bo.Parsed, str, str, list[str]]:
    """The script (stdin, a script file given as the command, or the command line),
    with its #BSUB options put before the command line's (which win); the default
    job name (LSF's: the command); the script's arguments."""
    cmd = p.command
    if not cmd:
        if sys.stdin.isatty():
            print("bsub> ", end="", file=sys.stderr, flush=True)
        script = sys.stdin.read()
        if not script.strip():
            raise bo.BsubError("No command is specified")
        first = next((ln.strip() for ln in script.splitlines()
                      if ln.strip() and not ln.lstrip().startswith("#")), "")
        return _merge(p, script), script, _default_name(first), []
    path = Path(cmd[0])
    if path.is_file():
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            text = ""
        if "#BSUB" in text:  # a job script: its #BSUB lines count (LSB_BSUB_PARSE_SCRIPT)
            return _merge(p, text), text, path.name, cmd[1:]
    line = " ".join(cmd)
    return p, f"#!/bin/sh\n{line}\n", _default_name(line), []


def _default_name(command: str) -> str:
    """LSF names a job after its command; corral's names hold no '/' (paths are
    cut to their last part)."""
    return re.sub(r"\S*/", "", command).strip()[:MAX_NAME_LEN] or "NONAME"


def _merge(p: bo.Parsed, script: str) -> bo.Parsed:
    inner = bo.parse(bo.directives(script))
    if inner.command:
        raise bo.BsubError(f"#BSUB: {shlex.join(inner.command)}: not an option")
    return bo.Parsed(opts=inner.opts + p.opts, command=p.command)


def bsub(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["-help"], ["--help"]):
        print("usage: bsub [options] command [arguments] | bsub [options] < script")
        return 0
    if argv[:1] == ["-V"]:
        print("corral's bsub (LSF-compatible front end)")
        return 0
    try:
        p = bo.parse(argv)
        p, script, name, args = read_job(p)
        warn: list[str] = []
        with frontend.client() as c:
            largest = max((n["cpus"] for n in c.nodes()), default=None) \
                if p.last("-n") and "ptile" not in " ".join(p.all("-R")) else None
            dep_text = p.last("-w")
            req = build(p, script, name, warn, largest)
            if args:
                req["argv"] = args
            if dep_text:
                req["dependency"] = bo.dependency(dep_text, lambda n: _ids_named(c, n))
            for w in warn:
                print(f"bsub: warning: {w}", file=sys.stderr)
            ids = c.submit_many(**req)
            job = c.job(min(ids))
    except bo.BsubError as e:
        frontend.fail(f"{e}. Job not submitted.", 255)
    except CorralError as e:
        if e.code == "unavailable":
            raise
        frontend.fail(f"{e}. Job not submitted.", 255)
    where = "queue" if p.last("-q") else "default queue"
    print(f"Job <{view.job_id(job)}> is submitted to {where} <{job['partition']}>.")
    sys.stdout.flush()
    if p.has("-K"):
        return _wait(view.job_id(job), ids)
    return 0


def _ids_named(c: Any, name: str) -> list[str]:
    return [str(j["id"]) for j in c.jobs(name=[name], user=[frontend.me()], history=True)]


def _wait(shown_id: int, ids: list[int]) -> int:
    """-K: follow the job to its end and leave with its exit code."""
    print("<<Waiting for dispatch ...>>", flush=True)
    started = False
    code = 0
    with frontend.client() as c:
        for job_id in ids:
            while True:
                job = c.wait(job_id, timeout_s=60)
                if not started and job.get("node_list"):
                    print(f"<<Starting on {job['node_list'][0]}>>", flush=True)
                    started = True
                if job["state"] in FINAL:
                    break
                time.sleep(0.1)
            if job["state"] != "COMPLETED":
                code = max(code, int(job.get("exit_code") or 1))
    print("<<Job is finished>>" if code == 0 else
          f"<<Job <{shown_id}> exited with exit code {code}>>", flush=True)
    return code


def main() -> None:
    frontend.run(PROG, bsub, error_prefix="")


if __name__ == "__main__":
    main()
