"""squeue's fields: `-o` letters and `-O` names -> (header, getter)."""

from __future__ import annotations

from typing import Any

from corral.compat import timefmt
from corral.compat.fmt import Getter
from corral.compat.slurm import jobview as v


def _s(key: str, default: str = "") -> Getter:
    def get(j: dict[str, Any]) -> str:
        value = j.get(key)
        return default if value is None else str(value)
    return get


def _spec(key: str, default: str = "(null)") -> Getter:
    def get(j: dict[str, Any]) -> str:
        value = (j.get("spec") or {}).get(key)
        return default if value in (None, "", [], ()) else str(value)
    return get


def _start(j: dict[str, Any]) -> str:
    return timefmt.stamp(j.get("t_start"), "N/A")


def _features(j: dict[str, Any]) -> str:
    return "&".join((j.get("spec") or {}).get("features") or []) or "(null)"


def _gres(j: dict[str, Any]) -> str:
    g = j.get("gpus_per_node") or 0
    return f"gres/gpu:{g}" if g else "N/A"


def _pending_s(j: dict[str, Any]) -> str:
    """Seconds from submit to start (or to now, still pending)."""
    if v.state(j) == "PENDING":
        return str(int(max(0.0, v.now() - float(j["t_submit"]))))
    start = j.get("t_start")
    return "0" if start is None else str(int(max(0.0, start - float(j["t_submit"]))))


def _cpus_per_task(j: dict[str, Any]) -> str:
    env = (j.get("spec") or {}).get("environment") or {}
    return str(env.get("SLURM_CPUS_PER_TASK") or "N/A")


def _env(key: str, default: str) -> Getter:
    """What sbatch recorded for the job in its environment (the tasks it asked for)."""
    return lambda j: str(((j.get("spec") or {}).get("environment") or {}).get(key)
                         or default)


def _tres(j: dict[str, Any]) -> str:
    parts = [f"cpu={j.get('cpus')}"]
    if j.get("mem_mb_per_node"):
        parts.append(f"mem={v.mem(j)}")
    parts.append(f"node={j.get('nodes')}")
    if j.get("gpus_per_node"):
        parts.append(f"gres/gpu={int(j['gpus_per_node']) * int(j.get('nodes') or 1)}")
    return ",".join(parts)


def _array_task(j: dict[str, Any]) -> str:
    return str(j.get("_task_range") or v.array_task_id(j))


LETTERS: dict[str, tuple[str, Getter]] = {
    "a": ("ACCOUNT", _s("account", "(null)")),
    "A": ("JOBID", lambda j: str(j["id"])),
    "b": ("TRES_PER_NODE", _gres),
    "B": ("EXEC_HOST", lambda j: (j.get("node_list") or ["n/a"])[0]
          if v.state(j) != "PENDING" else "n/a"),
    "c": ("MIN_CPUS", _s("cpus_per_node")),
    "C": ("CPUS", _s("cpus")),
    "d": ("MIN_TMP_DISK", lambda j: "0"),
    "D": ("NODES", _s("nodes")),
    "e": ("END_TIME", v.end_time),
    "E": ("DEPENDENCY", lambda j: str(j.get("dependency") or "(null)")),
    "f": ("FEATURES", _features),
    "F": ("ARRAY_JOB_ID", v.array_job_id),
    "g": ("GROUP", _s("gid")),
    "G": ("GROUP", _s("gid")),
    "H": ("SOCKETS_PER_NODE", lambda j: "*"),
    "I": ("CORES_PER_SOCKET", lambda j: "*"),
    "J": ("THREADS_PER_CORE", lambda j: "*"),
    "h": ("OVER_SUBSCRIBE", lambda j: "NO" if (j.get("spec") or {}).get("exclusive")
          else "OK"),
    "i": ("JOBID", v.job_id),
    "j": ("NAME", _s("name")),
    "k": ("COMMENT", lambda j: "(null)"),
    "K": ("ARRAY_TASK_ID", _array_task),
    "l": ("TIME_LIMIT", lambda j: timefmt.limit(j.get("time_limit_s"))),
    "L": ("TIME_LEFT", v.time_left),
    "m": ("MIN_MEMORY", v.mem),
    "M": ("TIME", v.time_used),
    "n": ("REQ_NODES", lambda j: ""),
    "N": ("NODELIST", v.nodelist),
    "o": ("COMMAND", v.command),
    "O": ("CONTIGUOUS", lambda j: "0"),
    "p": ("PRIORITY", lambda j: f"{float(j.get('priority') or 0):.8f}"),
    "P": ("PARTITION", _s("partition")),
    "q": ("QOS", lambda j: str(j.get("qos") or "normal")),
    "Q": ("PRIORITY", lambda j: str(round(float(j.get("priority") or 0)))),
    "r": ("REASON", v.reason),
    "R": ("NODELIST(REASON)", v.nodelist_reason),
    "S": ("START_TIME", _start),
    "t": ("ST", v.state_code),
    "T": ("STATE", v.state),
    "u": ("USER", _s("user")),
    "U": ("UID", v.uid),
    "v": ("RESERVATION", _s("reservation", "(null)")),
    "V": ("SUBMIT_TIME", lambda j: timefmt.stamp(j.get("t_submit"), "N/A")),
    "w": ("WCKEY", lambda j: "(null)"),
    "W": ("LICENSES", lambda j: "(null)"),
    "x": ("EXC_NODES", lambda j: ""),
    "X": ("CORE_SPEC", lambda j: "N/A"),
    "y": ("NICE", _spec("nice", "0")),
    "Y": ("SCHEDNODES", lambda j: "(null)"),
    "z": ("S:C:T", lambda j: "*:*:*"),
    "Z": ("WORK_DIR", _s("working_dir")),
}

_NAMED_LETTERS = {
    "Account": "a", "ArrayJobID": "F", "ArrayTaskID": "K", "Command": "o", "Dependency": "E",
    "EndTime": "e", "Feature": "f", "GroupID": "G", "JobArrayID": "i", "JobID": "A",
    "MinCpus": "c", "MinMemory": "m", "Name": "j", "Nice": "y", "NodeList": "N",
    "NumCPUs": "C", "NumNodes": "D", "Partition": "P", "Priority": "p", "PriorityLong": "Q",
    "Reason": "r", "ReasonList": "R", "StartTime": "S", "State": "T", "StateCompact": "t",
    "SubmitTime": "V", "TimeLeft": "L", "TimeLimit": "l", "TimeUsed": "M", "UserID": "U",
    "UserName": "u", "WorkDir": "Z", "QOS": "q", "Reservation": "v", "tres-per-node": "b",
    "OverSubscribe": "h", "Comment": "k", "WCKey": "w", "BatchHost": "B",
    "Contiguous": "O", "CoreSpec": "X", "GroupName": "g", "Licenses": "W", "MinCPUs": "c",
    "MinTmpDisk": "d", "ReqNodes": "n", "ExcNodes": "x", "SchedNodes": "Y", "SCT": "z",
    "Sockets": "H", "Shared": "h", "Gres": "b",
}
NAMED: dict[str, tuple[str, Getter]] = {
    name: (LETTERS[letter][0], LETTERS[letter][1]) for name, letter in _NAMED_LETTERS.items()
}
NAMED.update({
    "StdOut": ("STDOUT", _s("stdout")), "StdErr": ("STDERR", _s("stderr")),
    "StdIn": ("STDIN", lambda j: "/dev/null"),
    "EligibleTime": ("ELIGIBLE_TIME", lambda j: timefmt.stamp(
        (j.get("spec") or {}).get("t_begin") or j.get("t_submit"), "N/A")),
    "AccrueTime": ("ACCRUE_TIME", lambda j: timefmt.stamp(j.get("t_submit"), "N/A")),
    "PendingTime": ("PENDING_TIME", _pending_s),
    "CPUsPerTask": ("CPUS_PER_TASK", _cpus_per_task),
    "cpus-per-task": ("CPUS_PER_TASK", _cpus_per_task),
    "NumTasks": ("TASKS", _env("SLURM_NTASKS", "1")),
    "NTPerNode": ("NTASKS_PER_NODE", _env("SLURM_NTASKS_PER_NODE", "N/A")),
    "Requeue": ("REQUEUE", lambda j: "1" if (j.get("spec") or {}).get("requeue", True)
                else "0"),
    "RestartCnt": ("RESTART_COUNT", _s("restarts", "0")),
    "Exclusive": ("EXCLUSIVE", lambda j: "EXCLUSIVE" if (j.get("spec") or {}).get(
        "exclusive") else "OK"),
    "exit_code": ("EXIT_CODE", v.exit_code), "DerivedEC": ("DERIVED_EC", v.exit_code),
    "tres-alloc": ("TRES_ALLOC", _tres), "Tres": ("TRES_ALLOC", _tres),
    "Cluster": ("CLUSTER", lambda j: "corral"),
    "MaxCPUs": ("MAX_CPUS", _s("cpus")), "MaxNodes": ("MAX_NODES", _s("nodes")),
    "MinTime": ("TIME_MIN", lambda j: "0:00"),
    "BatchFlag": ("BATCH_FLAG", lambda j: "0" if (j.get("spec") or {}).get("interactive")
                  else "1"),
    "AllocNodes": ("ALLOC_NODES", lambda j: "(null)"),
    "Runtime": ("TIME", v.time_used),
    "STDOUT": ("STDOUT", _s("stdout")), "STDERR": ("STDERR", _s("stderr")),
    "ExitCode": ("EXIT_CODE", v.exit_code), "JobArrayID": ("JOBID", v.job_id),
    "Name": ("NAME", _s("name")), "UserName": ("USER", _s("user")),
})

DEFAULT = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
LONG = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R"

# What reads more of a job than the brief view has (its spec, paths, counts): a
# layout without these is listed from the brief view (GET /v1/jobs?view=brief).
_NOT_BRIEF_LETTERS = "fhoyZ"
_NOT_BRIEF_NAMED = ("StdOut", "StdErr", "STDOUT", "STDERR", "EligibleTime",
                    "CPUsPerTask", "cpus-per-task", "NumTasks", "NTPerNode", "Requeue",
                    "RestartCnt", "Exclusive", "BatchFlag")
BRIEF_GETTERS = frozenset(
    [get for letter, (_, get) in LETTERS.items() if letter not in _NOT_BRIEF_LETTERS]
    + [get for name, (_, get) in NAMED.items()
       if name not in _NOT_BRIEF_NAMED and _NAMED_LETTERS.get(name) not in
       tuple(_NOT_BRIEF_LETTERS)])
