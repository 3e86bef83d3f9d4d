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


def _array_task(j: dict[str, Any]) -> str:
    return str(j.get("_task_range") or v.array_task_id(j))


LETTERS: dict[str, tuple[str, Getter]] = {
    "a": ("ACCOUNT", _s("account", "(null)")),
    "A": ("JOBID", lambda j: str(j["id"])),
    "b": ("TRES_PER_NODE", _gres),
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
    "p": ("PRIORITY", lambda j: f"{float(j.get('priority') or 0):.8f}"),
    "P": ("PARTITION", _s("partition")),
    "q": ("QOS", lambda j: "normal"),
    "Q": ("PRIORITY", lambda j: str(round(float(j.get("priority") or 0)))),
    "r": ("REASON", v.reason),
    "R": ("NODELIST(REASON)", v.nodelist_reason),
    "S": ("START_TIME", _start),
    "t": ("ST", v.state_code),
    "T": ("STATE", v.state),
    "u": ("USER", _s("user")),
    "U": ("UID", v.uid),
    "v": ("RESERVATION", lambda j: "(null)"),
    "V": ("SUBMIT_TIME", lambda j: timefmt.stamp(j.get("t_submit"), "N/A")),
    "w": ("WCKEY", lambda j: "(null)"),
    "x": ("EXC_NODES", lambda j: ""),
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
    "OverSubscribe": "h", "Comment": "k", "WCKey": "w",
}
NAMED: dict[str, tuple[str, Getter]] = {
    name: (LETTERS[letter][0], LETTERS[letter][1]) for name, letter in _NAMED_LETTERS.items()
}
NAMED.update({
    "STDOUT": ("STDOUT", _s("stdout")), "STDERR": ("STDERR", _s("stderr")),
    "ExitCode": ("EXIT_CODE", v.exit_code), "JobArrayID": ("JOBID", v.job_id),
    "Name": ("NAME", _s("name")), "UserName": ("USER", _s("user")),
})

DEFAULT = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"
LONG = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R"
