"""gLite JDL jobs (docs/job-languages.md): a ClassAd read by HTCondor's library,
turned into corral submissions.

JobType Normal gives one job; Parametric one per parameter value, `_PARAM_`
replaced in every text attribute; Collection one per ad of its `Nodes` list, each
inheriting the collection's attributes; DAG one job, the DAG manager's, which submits
the nodes in order (corral.lang.jdl_dag). MPICH starts its executable through srun's
PMI server on every rank; Checkpointable is requeued when preempted and warned with
SIGUSR2 first; Interactive is an allocation whose executable runs in a terminal
(glite-wms-job-submit attaches to it). Requirements and Rank are kept as the
ClassAd expressions they are (evaluated by the controller on the node ads);
RetryCount and ShallowRetryCount become retry_count and max_retries.

Sandboxes: InputSandbox names local files (a URI other than file:// is refused);
they must exist, and are uploaded to the controller at submit (corral.lang.uploads,
once each however many jobs name them) and staged by the agent into the working
directory under their base names. OutputSandbox names files the job leaves there:
the agent sends them to the controller (`corral output JOB`).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import classad2

from corral.model.errors import InvalidRequest
from corral.model.job import MAX_RETRIES_LIMIT
from corral.model.sandbox import check_name

LOCAL_INPUTS = "input_sandbox_files"  # as corral.lang.uploads reads it

MAX_JDL_BYTES = 1024 * 1024
MAX_PARAMETRIC_JOBS = 10_000
PARAM = "_PARAM_"
TYPES = ("Normal", "Parametric", "Collection", "DAG", "MPICH", "Interactive",
         "Checkpointable")
LATER = ("Partitionable",)
# the job types of one job (a Collection's or a DAG's node may be any of them)
SINGLE = ("Normal", "MPICH", "Checkpointable")
MAX_JOB_STEPS = 100_000
SRUN_MODULE = "corral.compat.slurm.srun"  # run by an MPICH job's script
_LINE_COMMENT = re.compile(r"^\s*#.*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class JdlJobs:
    job_type: str
    requests: list[dict[str, Any]]  # one submission (the SDK's fields) per job


def read_ad(text: str, source: str) -> Any:
    """The JDL as a ClassAd; bracketed or not, `#` and `//` comments allowed."""
    if len(text.encode()) > MAX_JDL_BYTES:
        raise InvalidRequest(f"{source}: {len(text.encode())} bytes is over the limit of "
                             f"{MAX_JDL_BYTES} for a JDL")
    body = _LINE_COMMENT.sub("", text).strip()
    if not body.startswith("["):
        body = f"[\n{body}\n]"
    try:
        return classad2.ClassAd(body)
    except Exception:
        raise InvalidRequest(f"{source}: not a valid JDL (the ClassAd library cannot "
                             "parse it: check the ';' between attributes and the quotes)"
                             ) from None


def _value(ad: Any, name: str) -> Any:
    if name not in ad:
        return None
    try:
        v = ad.eval(name)
    except Exception:
        raise InvalidRequest(f"{name}: cannot be evaluated") from None
    if isinstance(v, classad2.Value):
        return None
    return v


def _text(ad: Any, name: str, required: bool = False) -> str | None:
    v = _value(ad, name)
    if v is None:
        if required:
            raise InvalidRequest(f"{name}: the JDL must give it (a string)")
        return None
    if not isinstance(v, str):
        raise InvalidRequest(f"{name}: {v!r} is not a string")
    return v


def _texts(ad: Any, name: str) -> list[str]:
    v = _value(ad, name)
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidRequest(f"{name}: must be a string or a list of strings")
    return list(v)


def _int(ad: Any, name: str, lo: int, hi: int, default: int | None = None) -> int | None:
    v = _value(ad, name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidRequest(f"{name}: {v!r} is not an integer")
    if not lo <= v <= hi:
        raise InvalidRequest(f"{name}: {v} is outside {lo}..{hi}")
    return v


def _expr(ad: Any, name: str) -> str | None:
    return str(ad.lookup(name)) if name in ad else None


def _job_type(ad: Any) -> str:
    kind = _text(ad, "Type") or "Job"
    if kind.lower() == "dag":
        return "DAG"
    if kind.lower() == "collection":
        return "Collection"
    if kind.lower() != "job":
        raise InvalidRequest(f"Type: {kind!r} is not a JDL type (Job, DAG, Collection)")
    raw = _value(ad, "JobType")
    if isinstance(raw, list):  # e.g. {"Checkpointable"}
        if len(raw) != 1:
            raise InvalidRequest(f"JobType: {raw!r}: corral takes one job type")
        raw = raw[0]
    jt = str(raw or "Normal")
    for name in TYPES:
        if jt.lower() == name.lower():
            return name
    if any(jt.lower() == n.lower() for n in LATER):
        raise InvalidRequest(f"JobType: {jt!r} is not supported (supported: "
                             f"{', '.join(TYPES)})")
    raise InvalidRequest(f"JobType: {jt!r} is not a JDL job type ({', '.join(TYPES)})")


def _substitute(ad: Any, value: str) -> Any:
    """A copy of the ad with _PARAM_ replaced in every string and list of strings."""
    out = classad2.ClassAd(str(ad))
    for name in list(out.keys()):
        if name.lower() in ("requirements", "rank"):
            expr = str(out.lookup(name))
            if PARAM in expr:
                out[name] = classad2.ExprTree(expr.replace(PARAM, value))
            continue
        v = _value(out, name)
        if isinstance(v, str) and PARAM in v:
            out[name] = v.replace(PARAM, value)
        elif isinstance(v, list) and any(isinstance(x, str) and PARAM in x for x in v):
            out[name] = [x.replace(PARAM, value) if isinstance(x, str) else x for x in v]
    for name in ("Parameters", "ParameterStart", "ParameterStep", "JobType"):
        if name in out:
            del out[name]
    out["JobType"] = "Normal"
    out["ParameterValue"] = value
    return out


def parameter_values(ad: Any) -> list[str]:
    raw = _value(ad, "Parameters")
    if raw is None:
        raise InvalidRequest("Parameters: a Parametric job must give it (a number or a list)")
    if isinstance(raw, list):
        if not raw or len(raw) > MAX_PARAMETRIC_JOBS:
            raise InvalidRequest(f"Parameters: a list of 1 to {MAX_PARAMETRIC_JOBS} values")
        return [str(x) for x in raw]
    n = _int(ad, "Parameters", 1, MAX_PARAMETRIC_JOBS)
    start = _int(ad, "ParameterStart", -(2**31), 2**31 - 1, 0)
    step = _int(ad, "ParameterStep", 1, 2**31 - 1, 1)
    assert n is not None and start is not None and step is not None
    return [str(start + i * step) for i in range(n)]


def expand(ad: Any) -> tuple[str, list[Any]]:
    """(the job type, one ad per job)."""
    kind = _job_type(ad)
    if kind == "Parametric":
        return kind, [_substitute(ad, v) for v in parameter_values(ad)]
    if kind == "Collection":
        nodes = _value(ad, "Nodes")
        if not isinstance(nodes, list) or not nodes or not all(
                isinstance(n, classad2.ClassAd) for n in nodes):
            raise InvalidRequest("Nodes: a Collection must list its jobs as ads ({[...], ...})")
        out = []
        for node in nodes:
            merged = classad2.ClassAd(str(ad))
            for name in ("Nodes", "Type"):
                del merged[name]
            for name in node:
                merged[name] = node.lookup(name)
            if _job_type(merged) not in SINGLE:
                raise InvalidRequest("Nodes: a Collection's jobs must be Normal, MPICH or "
                                     "Checkpointable jobs")
            out.append(merged)
        return kind, out
    return kind, [ad]


def _sandbox(paths: list[str], base: str, field: str) -> list[str]:
    out = []
    for p in paths:
        if "://" in p and not p.startswith("file://"):
            raise InvalidRequest(f"{field}: {p!r} is not a local file (only local files "
                                 "are uploaded)")
        out.append(os.path.normpath(os.path.join(base, p.removeprefix("file://"))))
    return out


def _script(ad: Any, inputs: list[str], source: str, kind: str) -> str:
    exe = _text(ad, "Executable", required=True)
    assert exe is not None
    if "/" not in exe and exe in {os.path.basename(p) for p in inputs}:
        exe = f"./{exe}"  # shipped in the input sandbox: staged in the working directory
    lines = ["#!/bin/sh", f"# from the JDL {os.path.basename(source)} (JobType {kind})"]
    args = _text(ad, "Arguments") or ""
    if "\n" in args:
        raise InvalidRequest("Arguments: may not contain a newline")
    if kind == "MPICH":  # every rank through srun, which serves PMI to them
        srun = f"{shlex.quote(sys.executable)} -m {SRUN_MODULE} --mpi=pmi2 -n {_ranks(ad)}"
        lines.append(f"exec {srun} {shlex.quote(exe)} {args}".rstrip())
    else:
        lines.append(f"exec {shlex.quote(exe)} {args}".rstrip())
    return "\n".join(lines) + "\n"


def _ranks(ad: Any) -> int:
    """An MPICH job's ranks: NodeNumber (gLite's first name for it) or CPUNumber."""
    n = _int(ad, "NodeNumber", 1, 10_000_000)
    if n is None:
        n = _int(ad, "CPUNumber", 1, 10_000_000)
    if n is None:
        raise InvalidRequest("NodeNumber: an MPICH job must give it (or CPUNumber): its "
                             "number of MPI ranks")
    return n


def _checkpointable(ad: Any) -> None:
    """JobSteps (a number, or the steps' labels) and CurrentStep, checked."""
    steps = _value(ad, "JobSteps")
    count: int | None = None
    if isinstance(steps, list):
        if not steps or len(steps) > MAX_JOB_STEPS \
                or not all(isinstance(x, str) for x in steps):
            raise InvalidRequest(f"JobSteps: a list of 1 to {MAX_JOB_STEPS} labels")
        count = len(steps)
    elif steps is not None:
        count = _int(ad, "JobSteps", 1, MAX_JOB_STEPS)
    current = _int(ad, "CurrentStep", 0, MAX_JOB_STEPS)
    if current is not None and count is not None and current >= count:
        raise InvalidRequest(f"CurrentStep: {current} is not below JobSteps ({count})")


def to_request(ad: Any, *, source: str, base_dir: str, cwd: str, name: str, kind: str,
               environ: Mapping[str, str]) -> dict[str, Any]:
    """One job's submission (the SDK's fields) from its ad."""
    if kind in ("Collection", "Parametric"):
        kind = _job_type(ad)  # each node's own (a Parametric's: Normal)
    inputs = _sandbox(_texts(ad, "InputSandbox"), base_dir, "InputSandbox")
    missing = [p for p in inputs if not os.path.exists(p)]
    if missing:
        raise InvalidRequest(f"InputSandbox: {missing[0]!r} does not exist")
    outputs = _texts(ad, "OutputSandbox")
    for out_name in outputs:
        if "://" in out_name and not out_name.startswith("file://"):
            raise InvalidRequest(f"OutputSandbox: {out_name!r} is not a file name (a "
                                 "destination URI is not supported)")
        check_name(os.path.normpath(out_name.removeprefix("file://")), "OutputSandbox")
    env = dict(environ)
    for item in _texts(ad, "Environment"):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InvalidRequest(f"Environment: {item!r} is not NAME=VALUE")
        env[key] = value
    req: dict[str, Any] = {"name": name, "working_dir": cwd, "environment": env,
                           "script": _script(ad, inputs, source, kind), "argv": []}
    out, err = _text(ad, "StdOutput"), _text(ad, "StdError")
    if out:
        req["stdout"] = out
    if err and err != out:
        req["stderr"] = err
    for attr, key in (("Requirements", "requirements"), ("Rank", "rank")):
        expr = _expr(ad, attr)
        if expr is not None:
            req[key] = expr
    req.update(_size(ad, kind))
    if kind == "Checkpointable":
        _checkpointable(ad)
        req["requeue"] = True  # preempted: back to the queue, not cancelled
        req["notify"] = True  # SIGUSR2 first, its cue to save its state
    elif kind == "Interactive":
        req["interactive"] = True
    deep = _int(ad, "RetryCount", 0, MAX_RETRIES_LIMIT)
    if deep:
        req["retry_count"] = deep
    shallow = _int(ad, "ShallowRetryCount", 0, MAX_RETRIES_LIMIT)
    if shallow is not None:
        req["max_retries"] = shallow
    req["jdl"] = str(ad)
    if inputs:
        req[LOCAL_INPUTS] = inputs  # uploaded by submit_all (corral.lang.uploads)
    if outputs:
        req["output_sandbox"] = [os.path.normpath(n.removeprefix("file://")) for n in outputs]
    return req


def _size(ad: Any, kind: str = "Normal") -> dict[str, Any]:
    """CPUNumber (CPUs in all), SMPGranularity (CPUs per node), HostNumber (nodes) and
    WholeNodes (whole nodes only), as gLite's multicore jobs give them; an MPICH job's
    NodeNumber (its ranks) counts as CPUNumber."""
    total = _ranks(ad) if kind == "MPICH" else _int(ad, "CPUNumber", 1, 10_000_000)
    per = _int(ad, "SMPGranularity", 1, 100_000)
    hosts = _int(ad, "HostNumber", 1, 100_000)
    out: dict[str, Any] = {}
    if hosts is not None:
        out["nodes"] = hosts
        if per is None and total is not None:
            per = -(-total // hosts)
    elif total is not None:
        out["nodes"] = -(-total // per) if per else 1
        per = per or total
    if per is not None:
        out["cpus_per_node"] = per
    whole = _value(ad, "WholeNodes")
    if whole is not None and not isinstance(whole, bool):
        raise InvalidRequest(f"WholeNodes: {whole!r} is not true or false")
    if whole:
        out["exclusive"] = True
    return out


def jdl_jobs(text: str, *, source: str, cwd: str,
             environ: Mapping[str, str]) -> JdlJobs:
    """Every submission a JDL makes. Errors: InvalidRequest naming the attribute."""
    try:
        ad = read_ad(text, source)
        if _job_type(ad) == "DAG":
            from corral.lang.jdl_dag import dag_jobs  # it reads its nodes with this module
            return JdlJobs("DAG", [dag_jobs(ad, source=source, cwd=cwd, environ=environ)])
        kind, ads = expand(ad)
        base = os.path.dirname(os.path.abspath(source)) if source != "-" else cwd
        stem = "stdin" if source == "-" else re.sub(
            r"[^A-Za-z0-9_.-]", "_", os.path.basename(source).rsplit(".", 1)[0]).lstrip("-.")
        stem = stem or "jdl"
        requests = []
        for i, one in enumerate(ads):
            name = stem if kind == "Normal" else f"{stem}_{_node_label(one, i)}"
            requests.append(to_request(one, source=source, base_dir=base, cwd=cwd,
                                       name=name[:200], kind=kind, environ=environ))
    except InvalidRequest as e:
        raise InvalidRequest(f"{source}: {e}") from None
    return JdlJobs(kind, requests)


def _node_label(ad: Any, i: int) -> str:
    v = _value(ad, "ParameterValue")
    label = str(v) if v is not None else _text(ad, "NodeName") or f"node{i}"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", label)
