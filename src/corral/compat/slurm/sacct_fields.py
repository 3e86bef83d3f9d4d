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
        by = j.get("cancelled_by_uid")  # who cancelled it (before it was kept: the owner)
        return f"CANCELLED by {j.get('uid', 0) if by is None else by}"
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


def _energy(j: dict[str, Any]) -> str:
    """Joules as sacct prints them (1.23K, 4.50M); empty when not measured."""
    e = j.get("energy_j")
    if e is None:
        return ""
    for unit, size in (("M", 1e6), ("K", 1e3)):
        if e >= size:
            return f"{e / size:.2f}{unit}"
    return str(int(e))


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
    "ConsumedEnergy": (14, False, _energy),
    "ConsumedEnergyRaw": (17, False, lambda j: "" if j.get("energy_j") is None
                          else str(int(j["energy_j"]))),
    "ReqMem": (10, False, _reqmem),
    "WorkDir": (10, False, _s("working_dir")),
    "Reason": (10, False, v.reason),
    "Priority": (10, False, lambda j: str(round(float(j.get("priority") or 0)))),
    "Restarts": (8, False, _s("restarts")),
    "AllocTRES": (10, False, lambda j: _tres(j) if j.get("t_start") else ""),
    "ReqTRES": (10, False, _tres),
    "Comment": (10, False, lambda j: ""),
    "Constraints": (19, False, lambda j: "&".join((j.get("spec") or {}).get("features") or [])),
    "QOS": (10, False, lambda j: str(j.get("qos") or "normal")),
    "Cluster": (10, False, lambda j: "corral"),
    "ReqGRES": (12, False, lambda j: f"gpu:{j['gpus_per_node']}"
                if j.get("gpus_per_node") else ""),
}

def _planned_s(j: dict[str, Any]) -> float:
    """How long the job waited: eligible (submit or begin time) to start, or to now."""
    t0 = max(float(j["t_submit"]), float((j.get("spec") or {}).get("t_begin") or 0))
    t1 = j.get("t_start")
    if t1 is None:
        t1 = j.get("t_end") or v.now()
    return max(0.0, float(t1) - t0)


def _first_node(j: dict[str, Any]) -> str:
    nodes = j.get("node_list") or []
    return str(nodes[0]) if nodes and j.get("max_rss_mb") is not None else ""


def _ntasks(j: dict[str, Any]) -> str:
    if not j.get("_step"):
        return ""  # the allocation's row: its steps have tasks
    if j["_step"] == ".batch":
        return "1"
    return str(j.get("_ntasks") or len(j.get("node_list") or []) or 1)


def _failed_node(j: dict[str, Any]) -> str:
    return v.nodelist(j) if v.state(j) == "NODE_FAIL" else ""


def _std(key: str) -> Get:
    return lambda j: "" if j.get("_step") else str(j.get(key) or "")


FIELDS.update({
    "AveCPU": (10, False, lambda j: _total_cpu(j) if j.get("_step") else ""),
    "AveRSS": (10, False, lambda j: _maxrss(j) if j.get("_step") else ""),
    "MaxRSSNode": (10, False, _first_node), "MaxRSSTask": (10, False,
                                                          lambda j: "0" if _first_node(j)
                                                          else ""),
    "MinCPU": (10, False, lambda j: _total_cpu(j) if j.get("_step") else ""),
    "MinCPUNode": (10, False, lambda j: _first_node(j) if j.get("_step") else ""),
    "MinCPUTask": (10, False, lambda j: "0" if j.get("_step") and _first_node(j) else ""),
    "NTasks": (8, False, _ntasks),
    "Exclusive": (14, False, lambda j: "" if j.get("_step") else (
        "EXCLUSIVE" if (j.get("spec") or {}).get("exclusive") else "OK")),
    "OverSubscribe": (14, False, lambda j: "" if j.get("_step") else (
        "NO" if (j.get("spec") or {}).get("exclusive") else "OK")),
    "Layout": (9, False, lambda j: "Block" if j.get("_step") and j["_step"] != ".batch"
               else "Unknown" if j.get("_step") else ""),
    "FailedNode": (8, False, _failed_node),
    "Planned": (10, False, lambda j: timefmt.full(_planned_s(j))),
    "PlannedCPU": (10, False, lambda j: timefmt.full(_planned_s(j) * int(j.get("cpus") or 0))),
    "PlannedCPURAW": (13, False, lambda j: str(int(_planned_s(j) * int(j.get("cpus") or 0)))),
    "Reservation": (20, False, lambda j: str(j.get("reservation") or "")),
    "ReqReservation": (20, False, lambda j: str(j.get("reservation") or "")),
    "QOSREQ": (10, False, lambda j: str(j.get("qos") or "normal")),
    "Suspended": (10, False, lambda j: "00:00:00"),
    "StdOut": (20, False, _std("stdout")), "StdErr": (20, False, _std("stderr")),
    "StdIn": (20, False, lambda j: "" if j.get("_step") else "/dev/null"),
    "Flags": (19, False, lambda j: "" if j.get("_step") else "SchedMain"),
})

DEFAULT = "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode"
LONG = ("JobID,JobIDRaw,JobName,Partition,MaxRSS,AllocCPUS,Elapsed,State,ExitCode,"
        "NodeList,ReqMem,ReqCPUS,Start,End,Submit,User")
BRIEF = "JobID,State,ExitCode"
