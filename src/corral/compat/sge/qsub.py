"""qsub: submit a script (or, with -b y, a command) the way Grid Engine's qsub does."""

from __future__ import annotations

import os
import shlex
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from corral.compat import frontend
from corral.compat.sge import view
from corral.model.errors import CorralError
from corral.model.units import parse_duration_s, parse_mem_mb

PROG = "qsub"
# option -> number of values
ARITY = {
    "-terse": 0, "-b": 1, "-N": 1, "-o": 1, "-e": 1, "-j": 1, "-cwd": 0, "-wd": 1, "-q": 1,
    "-l": 1, "-pe": 2, "-t": 1, "-tc": 1, "-V": 0, "-v": 1, "-hold_jid": 1, "-h": 0,
    "-a": 1, "-A": 1, "-p": 1, "-S": 1, "-r": 1, "-sync": 1, "-P": 1, "-m": 1, "-M": 1,
    "-notify": 0, "-now": 1, "-R": 1, "-js": 1, "-w": 1, "-C": 1, "-shell": 1, "-c": 1,
    "-help": 0, "-soft": 0, "-hard": 0, "-i": 1, "-ac": 1, "-dc": 1, "-sc": 1, "-binding": 1,
}
IGNORED = {"-S", "-P", "-m", "-M", "-now", "-R", "-js", "-w", "-shell", "-c",
           "-soft", "-hard", "-ac", "-dc", "-sc", "-i"}
MEMORY_RESOURCES = ("h_vmem", "s_vmem", "h_rss", "s_rss", "mem_free", "virtual_free", "mem")
SGE_SHIM = ('export JOB_ID="${SLURM_ARRAY_JOB_ID:-$CORRAL_JOB_ID}" '
            'JOB_NAME="$CORRAL_JOB_NAME" NSLOTS="$CORRAL_CPUS_ON_NODE" '
            'SGE_TASK_ID="${SLURM_ARRAY_TASK_ID:-undefined}" '
            'SGE_TASK_FIRST="${SLURM_ARRAY_TASK_MIN:-undefined}" '
            'SGE_TASK_LAST="${SLURM_ARRAY_TASK_MAX:-undefined}" '
            'SGE_TASK_STEPSIZE="${SLURM_ARRAY_TASK_STEP:-undefined}" '
            'HOSTNAME="$(hostname)"\n')


def parse_options(argv: list[str]) -> tuple[list[tuple[str, list[str]]], list[str]]:
    found: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if not word.startswith("-") or word == "-":
            return found, argv[i:]
        if word not in ARITY:
            frontend.fail(f'Unknown option {word}', 1)
        n = ARITY[word]
        if i + n >= len(argv) + (0 if n else 1) and n:
            frontend.fail(f'option "{word}" needs an argument', 1)
        found.append((word, argv[i + 1:i + 1 + n]))
        i += 1 + n
    return found, []


def directives(script: str) -> list[str]:
    words: list[str] = []
    for line in script.splitlines():
        if line.startswith("#$"):
            words.extend(shlex.split(line[2:], comments=True))
    return words


def _bool(value: str) -> bool:
    return value.strip().lower() in ("y", "yes", "true", "1")


def _path(value: str, default_name: str) -> str:
    """SGE pseudo variables -> corral patterns; a directory gets the default file name."""
    for var, pat in (("$JOB_ID", "%j"), ("$JOB_NAME", "%x"), ("$TASK_ID", "%a"),
                     ("$USER", "%u"), ("$HOSTNAME", "%N"), ("$HOME", str(Path.home()))):
        value = value.replace(var, pat).replace("${" + var[1:] + "}", pat)
    value = value.split(":", 1)[-1] if ":" in value and not value.startswith("/") else value
    if os.path.isdir(value):
        value = value.rstrip("/") + "/" + default_name
    return value


def _slots(text: str, what: str) -> int:
    """A slot count or range (`4`, `2-8`: the least); refused unless a positive number."""
    first = text.strip().split("-")[0] or "1"  # `-4`: up to 4, at least 1
    if not first.isdigit() or int(first) < 1:
        frontend.fail(f'{what}: "{text}" is not a number of slots (a positive integer)', 1)
    return int(first)


def _linear(text: str) -> int:
    """`-binding linear:N` (or `linear:N:S,C`, its start left to corral) -> N."""
    kind, _, rest = text.strip().partition(":")
    count = rest.split(":")[0]
    if kind not in ("linear", "linear_automatic") or not count.isdigit() or int(count) < 1:
        frontend.fail(f'-binding: "{text}" is not supported (corral binds linear:N, '
                      "N cores packed on one socket)", 1)
    return int(count)


def _begin(text: str) -> float:
    body, _, sec = text.partition(".")
    fmt = {8: "%m%d%H%M", 10: "%y%m%d%H%M", 12: "%Y%m%d%H%M"}.get(len(body))
    if fmt is None:
        frontend.fail(f"wrong date/time format \"{text}\"", 1)
    dt = datetime.strptime(body, fmt)
    if len(body) == 8:
        dt = dt.replace(year=datetime.now().year)
    return dt.timestamp() + int(sec or 0)


def build(opts: list[tuple[str, list[str]]], script: str, name: str) -> dict[str, Any]:
    o: dict[str, list[str]] = {}
    resources: dict[str, str] = {}
    variables: dict[str, str] = {}
    for opt, vals in opts:
        if opt == "-l":
            for item in vals[0].split(","):
                key, _, value = item.partition("=")
                resources[key.strip()] = value.strip()
        elif opt == "-v":
            for item in vals[0].split(","):
                key, eq, value = item.partition("=")
                variables[key] = value if eq else os.environ.get(key, "")
        else:
            o[opt] = vals
        if opt in IGNORED:
            frontend.warn(PROG, f"option {opt} is ignored by corral")
    env = dict(os.environ) if "-V" in o else {}
    env.update(variables)
    cwd = os.getcwd()
    env.update(SGE_O_WORKDIR=cwd, SGE_O_HOME=str(Path.home()),
               SGE_O_PATH=os.environ.get("PATH", ""), SGE_O_LOGNAME=frontend.me())
    workdir = o["-wd"][0] if "-wd" in o else cwd if "-cwd" in o else str(Path.home())
    name = o["-N"][0] if "-N" in o else name
    array = o["-t"][0] if "-t" in o else None
    suffix = "%A.%a" if array else "%j"
    slots = _slots(o["-pe"][1], "-pe") if "-pe" in o else 1
    if "slots" in resources:  # -l slots=N: N slots on one host, as -pe smp N
        value = resources.pop("slots")
        slots = slots if "-pe" in o else _slots(value, "-l slots")
    if "-binding" in o:  # linear:N: N CPUs, whole cores first (docs/resources.md)
        slots = max(slots, _linear(o["-binding"][0]))
    req: dict[str, Any] = {
        "name": name, "working_dir": os.path.abspath(workdir), "script": script, "argv": [],
        "environment": env, "cpus_per_node": slots,
        "stdout": _path(o["-o"][0], f"%x.o{suffix}") if "-o" in o else f"%x.o{suffix}",
    }
    if "-binding" in o:
        req["cpu_bind"] = "cores"
    joined = "-j" in o and _bool(o["-j"][0])
    if not joined:
        req["stderr"] = _path(o["-e"][0], f"%x.e{suffix}") if "-e" in o else f"%x.e{suffix}"
    if "-q" in o:
        req["partition"] = o["-q"][0].split("@")[0].split(",")[0]
    if "-A" in o:
        req["account"] = o["-A"][0]
    for key in ("h_rt", "s_rt"):
        if key in resources:
            value = resources.pop(key)
            req["time_limit_s"] = int(value) if value.isdigit() \
                else parse_duration_s(key, value)
    # Memory requests are per slot in Grid Engine; corral holds the job to the total
    # on its node (the smallest of those given, as the strictest limit wins).
    limits = [parse_mem_mb(key, resources.pop(key)) * slots for key in MEMORY_RESOURCES
              if key in resources]
    if limits:
        req["mem_mb_per_node"] = min(limits)
    for key in ("gpu", "gpus", "ngpus"):
        if key in resources:
            req["gpus_per_node"] = int(resources.pop(key) or 1)
    for key in resources:
        frontend.warn(PROG, f"resource {key} is ignored by corral")
    if "-h" in o:
        req["hold"] = True
    if "-a" in o:
        req["t_begin"] = _begin(o["-a"][0])
    if "-p" in o:  # raising it (N > 0) is an administrator's, as in Grid Engine
        req["nice"] = -int(o["-p"][0])
    if "-r" in o and not _bool(o["-r"][0]):
        req["requeue"] = False
    if "-notify" in o:  # SIGUSR2 before SIGKILL (corral does not suspend on request)
        req["notify"] = True
    if array:
        req["array"] = array + (f"%{o['-tc'][0]}" if "-tc" in o else "")
    return req


def _shim(script: str) -> str:
    """Give a shell script the SGE variables (JOB_ID, SGE_TASK_ID, NSLOTS, …)."""
    return frontend.with_shell_lines(script, SGE_SHIM)


def qsub(argv: list[str]) -> int:
    opts, operands = parse_options(argv)
    if any(o == "-help" for o, _ in opts):
        print("usage: qsub [options] [script_file|-|command [args]]")
        return 0
    binary = any(o == "-b" and _bool(v[0]) for o, v in opts)
    if binary:
        if not operands:
            frontend.fail("command required for a binary job", 1)
        script = f"#!/bin/sh\n{SGE_SHIM}exec {shlex.join(operands)}\n"
        name = Path(operands[0]).name
    elif operands and operands[0] != "-":
        try:
            script = Path(operands[0]).read_text()
        except OSError:
            frontend.fail(f"Unable to read script file because of error: error opening "
                          f"{operands[0]}: No such file or directory", 1)
        opts = parse_options(directives(script))[0] + opts
        script, name = _shim(script), Path(operands[0]).name
    else:
        script = sys.stdin.read()
        opts = parse_options(directives(script))[0] + opts
        script, name = _shim(script), "STDIN"
    req = build(opts, script, name)
    if not binary and operands[1:]:
        req["argv"] = operands[1:]
    if any(o == "-hold_jid" for o, _ in opts):
        with frontend.client() as c:
            dep = _hold_jid(c, [v[0] for o, v in opts if o == "-hold_jid"])
        if dep:
            req["dependency"] = dep
    try:
        with frontend.client() as c:
            ids = c.submit_many(**req)
    except CorralError as e:
        if e.code == "unavailable":
            raise
        frontend.fail(f"Unable to run job: {e}.\nExiting.", 1)
    terse = any(o == "-terse" for o, _ in opts)
    array = req.get("array", "").split("%")[0]
    if array:
        spec = array if ("-" in array) else f"{array}-{array}:1"
        spec = spec if ":" in spec else spec + ":1"
        print(f"{min(ids)}.{spec}" if terse else
              f'Your job-array {min(ids)}.{spec} ("{req["name"]}") has been submitted')
    else:
        print(min(ids) if terse else f'Your job {min(ids)} ("{req["name"]}") has been submitted')
    sys.stdout.flush()
    if any(o == "-sync" and _bool(v[0]) for o, v in opts):
        return _sync(ids)
    return 0


def _hold_jid(c: Any, values: list[str]) -> str:
    ids: list[str] = []
    for value in values:
        for item in value.split(","):
            if view.is_job_id(item):
                ids.append(item)
            else:
                ids.extend(str(j["id"]) for j in c.jobs(name=[item])
                           if j["state"] not in ("COMPLETED", "FAILED", "CANCELLED"))
    return "afterany:" + ":".join(ids) if ids else ""


def _sync(ids: list[int]) -> int:
    final = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
             "PREEMPTED"}
    code = 0
    with frontend.client() as c:
        for job_id in ids:
            job = c.wait(job_id, timeout_s=3600)
            while job["state"] not in final:
                time.sleep(0.1)
                job = c.wait(job_id, timeout_s=3600)
            print(f"Job {job_id} exited with exit code {job.get('exit_code') or 0}.")
            code = max(code, int(job.get("exit_code") or (0 if job["state"] == "COMPLETED"
                                                            else 1)))
    return code


def main() -> None:
    frontend.run(PROG, qsub, error_prefix="qsub: ")


if __name__ == "__main__":
    main()
