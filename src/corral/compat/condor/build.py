"""From the procs of a submit description to one corral submission: one job, or an
array whose task i is proc i (cluster.proc = array.task), run by a small shell
script that gives each proc its own directory, files, arguments and environment."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from corral.compat.condor.submitfile import CLUSTER_MARK, Proc, SubmitFileError
from corral.model.bounds import MEM_MB, shown

PROCS_MARK = "# condor-procs: "  # the line of the script that lists the procs' facts
UNIVERSES = {"vanilla", "local", "scheduler"}
_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)
_MEM_MB = {"K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 ** 2}
# commands that change nothing in corral (said once, as a warning)
IGNORED = ("log", "notification", "notify_user", "should_transfer_files",
           "when_to_transfer_output", "transfer_input_files", "transfer_output_files",
           "transfer_executable", "request_disk", "periodic_remove", "periodic_hold",
           "periodic_release", "on_exit_hold", "on_exit_remove", "stream_output",
           "stream_error", "copy_to_spool", "coresize", "job_lease_duration",
           "leave_in_queue", "max_idle", "max_materialize")
UNIFORM = ("request_cpus", "request_memory", "request_gpus", "requirements", "rank",
           "universe", "accounting_group", "hold", "priority", "max_retries",
           "batch_name")


def split_args(field: str, value: str) -> list[str]:
    """HTCondor's `arguments`: the new syntax ("a 'b c' ''"), or the old one (words;
    \\" a quote)."""
    v = value.strip()
    if not v:
        return []
    if not (len(v) >= 2 and v[0] == '"' and v[-1] == '"'):
        return [w.replace('\\"', '"') for w in v.split()]
    body = v[1:-1].replace('""', '"')
    out: list[str] = []
    cur: list[str] = []
    in_word = quoted = False
    i = 0
    while i < len(body):
        ch = body[i]
        if quoted:
            if ch == "'" and body[i + 1:i + 2] == "'":
                cur.append("'")
                i += 2
                continue
            if ch == "'":
                quoted = False
            else:
                cur.append(ch)
        elif ch == "'":
            quoted = in_word = True
        elif ch.isspace():
            if in_word:
                out.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(ch)
            in_word = True
        i += 1
    if quoted:
        raise SubmitFileError(f"{field}: {shown(value)} has an unclosed single quote")
    if in_word:
        out.append("".join(cur))
    return out


def environment(value: str) -> dict[str, str]:
    """`environment`: "A=1 B='x y'" (new syntax) or A=1;B=2 (old)."""
    v = value.strip()
    if not v:
        return {}
    words = split_args("environment", v) if v.startswith('"') else v.split(";")
    env: dict[str, str] = {}
    for w in words:
        key, eq, val = w.strip().partition("=")
        if not eq or not key:
            raise SubmitFileError(f"environment: {shown(w)} is not NAME=value")
        env[key] = val
    return env


def memory_mb(value: str) -> int:
    m = _MEM.match(value)
    if not m:
        raise SubmitFileError(f"request_memory: {shown(value)} is not a size "
                              "(e.g. 512, 2 GB)")
    mb = float(m.group(1)) * _MEM_MB[(m.group(2) or "M").upper()]
    if mb > MEM_MB[1]:
        raise SubmitFileError(f"request_memory: {shown(value)} is over the maximum of "
                              f"{MEM_MB[1]} MB")
    return max(1, round(mb))


def _count(name: str, value: str, low: int, high: int) -> int:
    if not value.strip().isdigit() or not low <= int(value) <= high:
        raise SubmitFileError(f"{name}: {shown(value)} is not a whole number in "
                              f"{low}-{high}")
    return int(value)


def _dq(text: str) -> str:
    """A double-quoted shell word; the cluster's id where $(Cluster) stood."""
    escaped = re.sub(r'(["\\$`])', r"\\\1", text)
    return '"' + escaped.replace(CLUSTER_MARK, '${C}') + '"'


def _facts(p: Proc, cwd: str) -> dict[str, Any]:
    c = p.commands
    universe = c.get("universe", "vanilla").lower()
    if universe not in UNIVERSES:
        raise SubmitFileError(f"universe: {shown(universe)} is not run by corral (have: "
                              "vanilla, local, scheduler; MPI jobs: sbatch -N/srun)")
    exe = c.get("executable", "").strip()
    if not exe:
        raise SubmitFileError("executable: no executable was given")
    iwd = c.get("initialdir", "").strip() or cwd
    iwd = os.path.normpath(os.path.join(cwd, os.path.expanduser(iwd)))
    exe_path = exe if os.path.isabs(exe) else os.path.normpath(os.path.join(cwd, exe))
    if CLUSTER_MARK not in exe_path and not os.path.exists(exe_path):
        raise SubmitFileError(f"Executable file {exe_path} does not exist")
    env: dict[str, str] = {}
    if c.get("getenv", "").strip().lower() in ("true", "1", "yes"):
        env.update(os.environ)
    env.update(environment(c.get("environment", "")))
    return {
        "Cmd": exe_path, "Args": split_args("arguments", c.get("arguments", "")),
        "Iwd": iwd, "In": c.get("input", "").strip() or "/dev/null",
        "Out": c.get("output", "").strip() or "/dev/null",
        "Err": c.get("error", "").strip() or "/dev/null", "Env": env,
    }


def script(facts: list[dict[str, Any]], common_env: dict[str, str]) -> str:
    lines = ["#!/bin/sh", f"# condor_submit: a cluster of {len(facts)} job(s)",
             PROCS_MARK + json.dumps([{k: v for k, v in f.items() if k != "Env"}
                                      for f in facts]).replace(CLUSTER_MARK, "$(Cluster)"),
             'C="${SLURM_ARRAY_JOB_ID:-$CORRAL_JOB_ID}"',
             'case "${SLURM_ARRAY_TASK_ID:-0}" in']
    for n, f in enumerate(facts):
        own = {k: v for k, v in f["Env"].items() if common_env.get(k) != v}
        env = ("env " + " ".join(_dq(f"{k}={v}") for k, v in own.items()) + " ") if own else ""
        words = " ".join(_dq(a) for a in [f["Cmd"], *f["Args"]])
        lines.append(f"{n}) cd {_dq(f['Iwd'])} && exec <{_dq(f['In'])} >{_dq(f['Out'])} "
                     f"2>{_dq(f['Err'])} && exec {env}{words} ;;")
    lines.append('*) echo "no such proc: $SLURM_ARRAY_TASK_ID" >&2; exit 1 ;;')
    lines.append("esac")
    return "\n".join(lines) + "\n"


def request(procs: list[Proc], cwd: str, batch_name: str | None,
            warn: list[str]) -> dict[str, Any]:
    """The corral submission for these procs."""
    first = procs[0].commands
    for key in UNIFORM:
        values = {p.commands.get(key) for p in procs}
        if len(values) > 1:
            raise SubmitFileError(f"{key} differs between the jobs of one cluster: corral "
                                  "runs a cluster as one array, whose jobs ask the same")
    for key in IGNORED:
        if key in first:
            warn.append("log: corral does not write HTCondor's job event log (condor_q "
                        "and condor_history show the jobs)" if key == "log"
                        else f"{key} is ignored by corral")
    facts = [_facts(p, cwd) for p in procs]
    common = dict(facts[0]["Env"])
    for f in facts[1:]:
        common = {k: v for k, v in common.items() if f["Env"].get(k) == v}
    cpus = _count("request_cpus", first.get("request_cpus", "1"), 1, 100_000)
    common.setdefault("OMP_NUM_THREADS", str(cpus))
    name = batch_name or first.get("batch_name") or Path(facts[0]["Cmd"]).name
    req: dict[str, Any] = {
        "name": name.replace("/", "_")[:200] or "condor",
        "working_dir": cwd, "script": script(facts, common), "environment": common,
        "cpus_per_node": cpus, "stdout": "/dev/null", "stderr": "/dev/null",
    }
    if "request_memory" in first:
        req["mem_mb_per_node"] = memory_mb(first["request_memory"])
    if "request_gpus" in first:
        req["gpus_per_node"] = _count("request_gpus", first["request_gpus"], 0, 1024)
    if first.get("requirements", "").strip():
        req["requirements"] = first["requirements"]
    if first.get("rank", "").strip():
        req["rank"] = first["rank"]
    if first.get("accounting_group", "").strip():
        req["account"] = first["accounting_group"].split(".")[0]
    if first.get("hold", "").strip().lower() in ("true", "1", "yes"):
        req["hold"] = True
    if first.get("priority", "").strip():
        prio = first["priority"].strip().lstrip("+")
        if not re.fullmatch(r"-?\d+", prio) or abs(int(prio)) > 10_000:
            raise SubmitFileError(f"priority: {shown(first['priority'])} is not a whole "
                                  "number in -10000-10000")
        req["nice"] = -int(prio)
    if first.get("max_retries", "").strip():
        req["retry_count"] = _count("max_retries", first["max_retries"], 0, 1000)
    if len(procs) > 1:
        req["array"] = f"0-{len(procs) - 1}"
    return req
