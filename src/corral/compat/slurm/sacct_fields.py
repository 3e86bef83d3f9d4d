"""sacct's fields: name -> (width, left-justified, getter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from corral.compat import timefmt
from corral.compat.slurm import jobview as v

Get = Callable[[dict[str, Any]], str]


def _state(j: dict[str, Any]) -> str:
    s = v.state(j)
    if s == "CANCELLED" and not j.get("_step"):
        return f"CANCELLED by {j.get('uid', 0)}"
    return s


def _elapsed(j: dict[str, Any]) -> str:
    return timefmt.full(timefmt.elapsed_s(j))


def _cputime_s(j: dict[str, Any]) -> float:
    return timefmt.elapsed_s(j) * int(j.get("cpus") or 0)


def _total_cpu(j: dict[str, Any]) -> str:
    t = j.get("cpu_time_s")
    if t is None:
        return "00:00:00"
    whole = int(t)
    return f"{timefmt.full(whole)}.{int((t - whole) * 1000):03d}" if whole < 3600 \
        else timefmt.full(whole)


def _maxrss(j: dict[str, Any]) -> str:
    m = j.get("max_rss_mb")
    return "" if m is None else f"{int(m * 1024)}K"


def _reqmem(j: dict[str, Any]) -> str:
    m = j.get("mem_mb_per_node")
    return "" if not m else (f"{m // 1024}G" if m % 1024 == 0 else f"{m}M")


def _s(key: str, default: str = "") -> Get:
    def get(j: dict[str, Any]) -> str:
        value = j.get(key)
        return default if value is None else str(value)
    return get


def _when(key: str) -> Get:
    return lambda j: timefmt.stamp(j.get(key))


def _tres(j: dict[str, Any]) -> str:
    parts = [f"cpu={j.get('cpus')}"]
    if j.get("mem_mb_per_node"):
        parts.append(f"mem={_reqmem(j)}")
    parts.append(f"node={j.get('nodes')}")
    if j.get("gpus_per_node"):
        parts.append(f"gres/gpu={int(j['gpus_per_node']) * int(j.get('nodes') or 1)}")
    return ",".join(parts)


FIELDS: dict[str, tuple[int, bool, Get]] = {
    "JobID": (12, True, v.job_id),
    "JobIDRaw": (12, True, lambda j: str(j["id"]) + (j.get("_step") or "")),
    "JobName": (10, False, _s("name")),
    "State": (10, False, _state),
    "ExitCode": (8, False, v.exit_code),
    "DerivedExitCode": (15, False, v.exit_code),
    "Elapsed": (10, False, _elapsed),
    "ElapsedRaw": (10, False, lambda j: str(int(timefmt.elapsed_s(j)))),
    "Start": (19, False, lambda j: timefmt.stamp(j.get("t_start"))),
    "End": (19, False, lambda j: timefmt.stamp(j.get("t_end"))),
    "Submit": (19, False, _when("t_submit")),
    "Eligible": (19, False, _when("t_submit")),
    "NodeList": (15, False, lambda j: v.nodelist(j, "None assigned")),
    "NNodes": (8, False, _s("nodes")),
    "AllocNodes": (10, False, lambda j: str(j.get("nodes") if j.get("t_start") else 0)),
    "AllocCPUS": (10, False, lambda j: str(j.get("cpus") if j.get("t_start") else 0)),
    "NCPUS": (10, False, lambda j: str(j.get("cpus") if j.get("t_start") else 0)),
    "ReqCPUS": (8, False, _s("cpus")),
    "ReqNodes": (8, False, _s("nodes")),
    "User": (9, False, lambda j: "" if j.get("_step") else str(j.get("user", ""))),
    "UID": (6, False, _s("uid")),
    "Group": (9, False, _s("gid")),
    "GID": (6, False, _s("gid")),
    "Partition": (10, False, lambda j: "" if j.get("_step") else str(j.get("partition"))),
    "Account": (10, False, _s("account")),
    "Timelimit": (10, False, lambda j: "" if j.get("_step")
                  else timefmt.limit(j.get("time_limit_s"), compact_form=False)),
    "TimelimitRaw": (12, False, lambda j: str((j.get("time_limit_s") or 0) // 60)),
    "CPUTime": (10, False, lambda j: timefmt.full(_cputime_s(j))),
    "CPUTimeRAW": (10, False, lambda j: str(int(_cputime_s(j)))),
    "TotalCPU": (10, False, _total_cpu),
    "MaxRSS": (10, False, _maxrss),
    "ReqMem": (10, False, _reqmem),
    "WorkDir": (10, False, _s("working_dir")),
    "Reason": (10, False, v.reason),
    "Priority": (10, False, lambda j: str(round(float(j.get("priority") or 0)))),
    "Restarts": (8, False, _s("restarts")),
    "AllocTRES": (10, False, lambda j: _tres(j) if j.get("t_start") else ""),
    "ReqTRES": (10, False, _tres),
    "Comment": (10, False, lambda j: ""),
    "Constraints": (19, False, lambda j: "&".join((j.get("spec") or {}).get("features") or [])),
    "QOS": (10, False, lambda j: "normal"),
    "Cluster": (10, False, lambda j: "corral"),
    "ReqGRES": (12, False, lambda j: f"gpu:{j['gpus_per_node']}"
                if j.get("gpus_per_node") else ""),
}

DEFAULT = "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode"
LONG = ("JobID,JobIDRaw,JobName,Partition,MaxRSS,AllocCPUS,Elapsed,State,ExitCode,"
        "NodeList,ReqMem,ReqCPUS,Start,End,Submit,User")
BRIEF = "JobID,State,ExitCode"
