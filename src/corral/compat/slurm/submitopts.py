"""sbatch's options (also read from `#SBATCH` lines and SBATCH_* variables) and how
they become a corral submit request."""

from __future__ import annotations

import os
import shlex
import socket
from typing import Any

from corral.compat import timefmt
from corral.compat.options import NONE, OPTIONAL, REQUIRED, Opt, OptionError
from corral.model import hostlist
from corral.model.cpubind import BindOptionError, check_cpu_bind, check_gres_flags
from corral.model.errors import InvalidRequest
from corral.model.features import constraint_terms
from corral.model.gres import parse_gres
from corral.model.units import parse_duration_s, parse_mem_mb

_USED = [
    Opt("account", "account", REQUIRED, "A"), Opt("array", "array", REQUIRED, "a"),
    Opt("begin", "begin", REQUIRED, "b"), Opt("chdir", "chdir", REQUIRED, "D"),
    Opt("workdir", "chdir"), Opt("constraint", "constraint", REQUIRED, "C"),
    Opt("cpus-per-task", "cpus_per_task", REQUIRED, "c"),
    Opt("dependency", "dependency", REQUIRED, "d"), Opt("error", "error", REQUIRED, "e"),
    Opt("export", "export"), Opt("exclusive", "exclusive", OPTIONAL),
    Opt("gres", "gres"), Opt("gpus", "gpus", REQUIRED, "G"),
    Opt("gpus-per-node", "gpus_per_node"), Opt("hold", "hold", NONE, "H"),
    Opt("job-name", "job_name", REQUIRED, "J"),
    Opt("kill-on-invalid-dep", "kill_on_invalid_dep"), Opt("mem", "mem"),
    Opt("mem-per-cpu", "mem_per_cpu"), Opt("mincpus", "mincpus"),
    Opt("nodes", "nodes", REQUIRED, "N"), Opt("ntasks", "ntasks", REQUIRED, "n"),
    Opt("ntasks-per-node", "ntasks_per_node"), Opt("output", "output", REQUIRED, "o"),
    Opt("open-mode", "open_mode"), Opt("parsable", "parsable", NONE),
    Opt("partition", "partition", REQUIRED, "p"), Opt("requeue", "requeue", NONE),
    Opt("no-requeue", "no_requeue", NONE), Opt("signal", "signal"),
    Opt("time", "time", REQUIRED, "t"), Opt("wait", "wait", NONE, "W"),
    Opt("wrap", "wrap"), Opt("nice", "nice", OPTIONAL), Opt("priority", "priority"),
    Opt("help", "help", NONE, "h"), Opt("usage", "usage", NONE),
    Opt("version", "version", NONE, "V"), Opt("quiet", "quiet", NONE, "Q"),
    Opt("verbose", "verbose", NONE, "v"), Opt("test-only", "test_only", NONE),
    Opt("nodelist", "nodelist", REQUIRED, "w"), Opt("exclude", "exclude", REQUIRED, "x"),
    Opt("licenses", "licenses", REQUIRED, "L"),
    Opt("cpu-bind", "cpu_bind"), Opt("gres-flags", "gres_flags"),
]
# Options that change nothing on corral: accepted with a warning.
_IGNORED_WITH_VALUE = (
    "mail-type mail-user qos:q comment reservation tmp distribution:m "
    "wckey threads-per-core cores-per-socket sockets-per-node hint "
    "cpu-freq gpus-per-task cpus-per-gpu mem-per-gpu gpu-bind ntasks-per-core "
    "ntasks-per-socket ntasks-per-gpu profile acctg-freq time-min deadline delay-boot "
    "core-spec:S thread-spec switches network mcs-label clusters:M cluster-constraint uid "
    "gid export-file container bb bbf tres-per-task extra prefer input:i "
    "mem-bind power"
)
_IGNORED_FLAGS = ("overcommit:O oversubscribe:s spread-job contiguous reboot use-min-nodes "
                  "ignore-pbs no-kill:k get-user-env propagate")


def _ignored() -> list[Opt]:
    out = []
    for group, arg in ((_IGNORED_WITH_VALUE, REQUIRED), (_IGNORED_FLAGS, NONE)):
        for item in group.split():
            name, _, short = item.partition(":")
            kind = OPTIONAL if name in ("no-kill", "get-user-env", "propagate") else arg
            out.append(Opt(name, "ignored", kind, short or None))
    return out


TABLE: list[Opt] = _USED + _ignored()

ENV_OPTIONS = {
    "SBATCH_ACCOUNT": "account", "SBATCH_ARRAY_INX": "array",
    "SBATCH_CONSTRAINT": "constraint", "SBATCH_EXPORT": "export", "SBATCH_GRES": "gres",
    "SBATCH_GPUS": "gpus", "SBATCH_JOB_NAME": "job_name", "SBATCH_MEM_PER_CPU": "mem_per_cpu",
    "SBATCH_MEM_PER_NODE": "mem", "SBATCH_OPEN_MODE": "open_mode",
    "SBATCH_PARTITION": "partition", "SBATCH_TIMELIMIT": "time", "SBATCH_SIGNAL": "signal",
    "SBATCH_WAIT": "wait", "SBATCH_REQUEUE": "requeue", "SBATCH_NO_REQUEUE": "no_requeue",
    "SBATCH_EXCLUSIVE": "exclusive", "SBATCH_DEPENDENCY": "dependency",
}


def directive_args(script: str, prefix: str = "#SBATCH") -> list[str]:
    """The option words of the `#SBATCH` lines before the script's first command."""
    args: list[str] = []
    for lineno, line in enumerate(script.splitlines(), start=1):
        text = line.strip()
        if lineno == 1 and text.startswith("#!"):
            continue
        if not text:
            continue
        if not text.startswith("#"):
            break
        if not text.startswith(prefix) or (len(text) > len(prefix)
                                            and not text[len(prefix)].isspace()):
            continue
        try:
            words = shlex.split(text[len(prefix):])
        except ValueError as e:
            raise OptionError(f"line {lineno}: {e}") from None
        for w in words:
            if w.startswith("#"):
                break  # a comment after the options
            args.append(w)
    return args


def _int(name: str, value: str | None) -> int:
    try:
        n = int(str(value).split("-")[0])  # -N 2-4: the minimum
    except ValueError:
        raise InvalidRequest(f"Invalid --{name} specification") from None
    if n < 1:
        raise InvalidRequest(f"Invalid --{name} specification")
    return n


def _is_zero(text: str) -> bool:
    digits = text.strip().rstrip("KMGTkmgtBb")
    return digits.replace(".", "").isdigit() and float(digits) == 0




def _split_gres(text: str) -> tuple[str, str | None]:
    """--gres=gpu:a100:2,nvme:1 -> ('gpu:a100:2', 'nvme:1'): the GPU items, the others
    (generic resources of model/gres.py; None: none)."""
    items = [i.strip() for i in text.split(",") if i.strip()]
    gpus = [i for i in items if i.split(":")[0] == "gpu"]
    others = [i for i in items if i.split(":")[0] != "gpu"]
    if others:
        try:
            parse_gres(",".join(others))
        except InvalidRequest:
            raise InvalidRequest(f"Invalid generic resource (gres) specification: "
                                 f"{text}") from None
    return ",".join(gpus), ",".join(others) or None


def _gpu_request(text: str, opt: str) -> tuple[int, str | None]:
    """--gres=gpu[:type][:N] / --gpus=[type:]N -> (N, type or None); two GPU types in
    one job are refused."""
    total = 0
    types: set[str] = set()
    for item in text.split(","):
        parts = item.split(":")
        if opt == "gres" and parts[0] != "gpu":
            raise InvalidRequest(f"Invalid generic resource (gres) specification: {item}")
        named = parts[1:] if opt == "gres" else parts
        count = named[-1] if named and named[-1].isdigit() else ("1" if opt == "gres" else "")
        kind = [p for p in named if not p.isdigit()]
        if not count or len(kind) > 1:
            raise InvalidRequest(f"Invalid --{opt} specification: {item}")
        types.update(kind)
        total += int(count)
    if len(types) > 1:
        raise InvalidRequest(f"Invalid --{opt} specification: {text} (corral gives a job "
                             "GPUs of one type)")
    return total, next(iter(types), None)


def _hosts(text: str) -> list[str]:
    """-w/-x: a host list (node[1-3],other); Slurm's file form (a path) is not taken."""
    try:
        names = hostlist.expand(text)
    except ValueError:
        names = []
    if not names or any("/" in n for n in names):
        raise InvalidRequest(f"Invalid node name specified: {text}")
    return list(dict.fromkeys(names))


def environment(export: str | None) -> dict[str, str]:
    """--export: ALL (default), NONE/NIL, or NAMES[=value] optionally with ALL."""
    base = dict(os.environ)
    if export is None or export.upper() == "ALL":
        return base
    items = [p for p in export.split(",") if p]
    if items and items[0].upper() in ("NONE", "NIL"):
        return {}
    keep_all = any(p.upper() == "ALL" for p in items)
    env = base if keep_all else {k: v for k, v in base.items() if k.startswith("SLURM_")}
    for item in items:
        if item.upper() in ("ALL", "NONE", "NIL"):
            continue
        key, eq, value = item.partition("=")
        if eq:
            env[key] = value
        elif key in base:
            env[key] = base[key]
    return env


def _output_pattern(text: str) -> str:
    """Slurm's filename patterns -> corral's (%j %x %u %N %A %a %% pass through)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "%" and i + 1 < len(text):
            j = i + 1
            while j < len(text) and text[j].isdigit():
                j += 1  # %4a: zero padding is not supported; the number is dropped
            key = text[j] if j < len(text) else ""
            out.append({"J": "%j", "s": "batch", "t": "0", "n": "0"}.get(key, "%" + key))
            i = j + 1
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def build_request(o: dict[str, Any], *, script: str, args: list[str],
                  default_name: str) -> dict[str, Any]:
    nodes = _int("nodes", o["nodes"]) if o.get("nodes") else 1
    ntasks = _int("ntasks", o["ntasks"]) if o.get("ntasks") else None
    cpt = _int("cpus-per-task", o["cpus_per_task"]) if o.get("cpus_per_task") else 1
    per_node = _int("ntasks-per-node", o["ntasks_per_node"]) if o.get("ntasks_per_node") \
        else -(-(ntasks or nodes) // nodes)
    cpus = per_node * cpt
    if o.get("mincpus"):
        cpus = max(cpus, _int("mincpus", o["mincpus"]))
    env = environment(o.get("export"))
    tasks = ntasks or per_node * nodes
    env.update(SLURM_NTASKS=str(tasks), SLURM_NPROCS=str(tasks),
               SLURM_SUBMIT_HOST=socket.gethostname())
    if o.get("cpus_per_task"):
        env["SLURM_CPUS_PER_TASK"] = str(cpt)
    workdir = os.path.abspath(o.get("chdir") or os.getcwd())
    env.setdefault("SLURM_SUBMIT_DIR", os.getcwd())
    array = o.get("array")
    req: dict[str, Any] = {
        "name": o.get("job_name") or default_name, "working_dir": workdir,
        "script": script, "argv": args, "environment": env, "nodes": nodes,
        "cpus_per_node": cpus,
        "stdout": _output_pattern(o.get("output")
                                  or ("slurm-%A_%a.out" if array else "slurm-%j.out")),
    }
    if o.get("error"):
        req["stderr"] = _output_pattern(o["error"])
    if o.get("partition"):
        req["partition"] = o["partition"].split(",")[0]
    if o.get("account"):
        req["account"] = o["account"]
    if o.get("mem"):
        if not _is_zero(o["mem"]):  # --mem=0: all of the node's memory (the default)
            req["mem_mb_per_node"] = parse_mem_mb("mem", o["mem"])
    elif o.get("mem_per_cpu"):
        req["mem_mb_per_node"] = parse_mem_mb("mem-per-cpu", o["mem_per_cpu"]) * cpus
    gpus = 0
    gpu_type = None
    if o.get("gres"):
        gpu_items, req_gres = _split_gres(o["gres"])
        if gpu_items:
            gpus, gpu_type = _gpu_request(gpu_items, "gres")
        if req_gres:
            req["gres"] = req_gres
    if o.get("gpus_per_node"):
        gpus, gpu_type = _gpu_request(o["gpus_per_node"], "gpus-per-node")
    if o.get("gpus"):
        total, gpu_type = _gpu_request(o["gpus"], "gpus")
        gpus = -(-total // nodes)
    if gpus:
        req["gpus_per_node"] = gpus
    if gpu_type:
        req["gpu_type"] = gpu_type
    if o.get("time"):  # UNLIMITED: 0, which is not "not given" (None)
        req["time_limit_s"] = parse_duration_s("time", o["time"])
    if "hold" in o:
        req["hold"] = True
    if o.get("begin"):
        req["t_begin"] = timefmt.parse_begin(o["begin"])
    if o.get("constraint"):
        text = o["constraint"]
        if any(c in text for c in "[]*"):
            raise InvalidRequest(f"Invalid feature specification: {text} (corral supports "
                                 "'a&b', 'a|b', '!a' and parentheses, not [] or counts)")
        req["features"] = constraint_terms(text)
    for key in ("nodelist", "exclude"):
        if o.get(key):
            req[key] = _hosts(o[key])
    if "no_requeue" in o:
        req["requeue"] = False
    if o.get("licenses"):
        req["licenses"] = o["licenses"]
    if "nice" in o:
        req["nice"] = int(o["nice"] or 100)
    if o.get("priority"):
        req["priority"] = int(o["priority"])
    # Since the controller's arrays/dependencies contract: sent only when used.
    if array:
        req["array"] = array
    if o.get("dependency"):
        req["dependency"] = o["dependency"]
    if o.get("kill_on_invalid_dep"):
        req["kill_on_invalid_dep"] = o["kill_on_invalid_dep"].lower() in ("yes", "y", "1")
    if o.get("signal"):
        req["signal"] = o["signal"]  # without B: the controller signals the steps only
    if "exclusive" in o:
        req["exclusive"] = True
    if o.get("cpu_bind"):  # cores, threads, none, map_cpu:IDS (docs/resources.md)
        try:
            req["cpu_bind"] = check_cpu_bind(o["cpu_bind"]) or None
        except BindOptionError as exc:
            raise InvalidRequest(f"Invalid --cpu-bind argument: {o['cpu_bind']} "
                                 f"({str(exc).removeprefix('cpu_bind: ')})") from None
    if o.get("gres_flags"):  # enforce-binding, disable-binding (docs/resources.md)
        try:
            req["gres_flags"] = check_gres_flags(o["gres_flags"]) or None
        except BindOptionError as exc:
            raise InvalidRequest(f"Invalid --gres-flags argument: {o['gres_flags']} "
                                 f"({str(exc).removeprefix('gres_flags: ')})") from None
    _allocation_env(env, req, tasks_per_node=o.get("ntasks_per_node") and per_node)
    return req


def _allocation_env(env: dict[str, str], req: dict[str, Any], *,
                    tasks_per_node: int | None) -> None:
    """The SLURM_* variables of the allocation that are known at submit (the agent
    adds the job id, node list and SLURM_CPUS_ON_NODE); values inherited from an
    enclosing job are replaced, as Slurm does."""
    nodes, cpus = req["nodes"], req["cpus_per_node"]
    per_node = -(-int(env["SLURM_NTASKS"]) // nodes)
    env.update(SLURM_JOB_NUM_NODES=str(nodes), SLURM_NNODES=str(nodes),
               SLURM_TASKS_PER_NODE=f"{per_node}(x{nodes})" if nodes > 1 else str(per_node),
               SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0",
               SLURM_CLUSTER_NAME="corral")
    for key in ("SLURM_NTASKS_PER_NODE", "SLURM_MEM_PER_NODE", "SLURM_JOB_PARTITION",
                "SLURM_JOB_ACCOUNT", "SLURM_GPUS_ON_NODE", "SLURM_JOB_CPUS_PER_NODE"):
        env.pop(key, None)
    if not req.get("exclusive"):
        env["SLURM_JOB_CPUS_PER_NODE"] = f"{cpus}(x{nodes})" if nodes > 1 else str(cpus)
    if tasks_per_node:
        env["SLURM_NTASKS_PER_NODE"] = str(tasks_per_node)
    if req.get("mem_mb_per_node"):
        env["SLURM_MEM_PER_NODE"] = str(req["mem_mb_per_node"])
    if req.get("partition"):
        env["SLURM_JOB_PARTITION"] = req["partition"]
    if req.get("account"):
        env["SLURM_JOB_ACCOUNT"] = req["account"]
    if req.get("gpus_per_node"):
        env["SLURM_GPUS_ON_NODE"] = str(req["gpus_per_node"])
