"""scontrol show: jobs, nodes and partitions in Slurm's `Key=Value` layout."""

from __future__ import annotations

import time
from typing import Any

from corral.compat import timefmt
from corral.compat.slurm import jobview as v
from corral.model.gres import node_text
from corral.model.topology import format_cpulist

Pairs = list[list[tuple[str, Any]]]  # lines of key=value pairs


def _null(value: Any) -> str:
    return "(null)" if value in (None, "", [], ()) else str(value)


def _node_details(j: dict[str, Any]) -> Pairs:
    """`scontrol show job -d`: each node's CPU ids (those the scheduler chose) and GPU
    indices, as Slurm's `Nodes=… CPU_IDs=… Mem=… GRES=…` lines."""
    cpu_ids = j.get("cpu_ids") or {}
    gpu_ids = j.get("gpu_ids") or {}
    out: Pairs = []
    for node in j.get("node_list") or []:
        cpus = cpu_ids.get(node)
        gpus = gpu_ids.get(node)
        out.append([("Nodes", node),
                    ("CPU_IDs", format_cpulist(cpus) if cpus else "(null)"),
                    ("Mem", j.get("mem_mb_per_node") or 0),
                    ("GRES", f"gpu:{len(gpus)}(IDX:{format_cpulist(gpus)})" if gpus else "")])
    return out


def job_pairs(j: dict[str, Any], details: bool = False) -> Pairs:
    spec = j.get("spec") or {}
    first: list[tuple[str, Any]] = [("JobId", j["id"])]
    if j.get("array_job_id") is not None:
        first += [("ArrayJobId", j["array_job_id"]), ("ArrayTaskId", j["array_task_id"])]
    first.append(("JobName", j["name"]))
    limit_s = j.get("time_limit_s")
    mem = j.get("mem_mb_per_node")
    exclusive = bool(spec.get("exclusive"))
    tres = f"cpu={j['cpus']}" + (f",mem={v.mem(j)}" if mem else "") + f",node={j['nodes']}"
    if j.get("gpus_per_node"):
        tres += f",gres/gpu={j['gpus_per_node'] * j['nodes']}"
    return [
        first,
        [("UserId", f"{j['user']}({j['uid']})"), ("GroupId", f"{j['gid']}({j['gid']})"),
         ("MCS_label", "N/A")],
        [("Priority", round(float(j.get("priority") or 0))), ("Nice", spec.get("nice", 0)),
         ("Account", _null(j.get("account"))), ("QOS", "normal")],
        [("JobState", v.state(j)), ("Reason", v.reason(j)),
         ("Dependency", _null(j.get("dependency")))],
        [("Requeue", 1 if spec.get("requeue", True) else 0), ("Restarts", j.get("restarts", 0)),
         ("BatchFlag", 1 if spec.get("script") is not None else 0), ("Reboot", 0),
         ("ExitCode", v.exit_code(j))],
        [("RunTime", timefmt.full(timefmt.elapsed_s(j))),
         ("TimeLimit", timefmt.limit(limit_s, compact_form=False)), ("TimeMin", "N/A")],
        [("SubmitTime", timefmt.stamp(j.get("t_submit"))),
         ("EligibleTime", timefmt.stamp(spec.get("t_begin") or j.get("t_submit")))],
        [("AccrueTime", timefmt.stamp(j.get("t_submit")))],
        [("StartTime", timefmt.stamp(j.get("t_start"))),
         ("EndTime", v.end_time(j, "Unknown")), ("Deadline", "N/A")],
        [("Partition", j["partition"]), ("AllocNode:Sid", "(null)")],
        [("ReqNodeList", "(null)"), ("ExcNodeList", "(null)")],
        [("NodeList", v.nodelist(j, "(null)"))],
        [("BatchHost", (j.get("node_list") or ["(null)"])[0])],
        [("NumNodes", j["nodes"]), ("NumCPUs", j["cpus"]), ("NumTasks", j["nodes"]),
         ("CPUs/Task", 1), ("ReqB:S:C:T", "0:0:*:*")],
        [("TRES", tres)],
        *(_node_details(j) if details else []),
        [("MinCPUsNode", j.get("cpus_per_node")),
         ("MinMemoryNode", v.mem(j) if mem else 0), ("MinTmpDiskNode", 0)],
        [("Features", "&".join(spec.get("features") or []) or "(null)"),
         ("DelayBoot", "00:00:00")],
        [("OverSubscribe", "NO" if exclusive else "OK"), ("Contiguous", 0),
         ("Licenses", "(null)"), ("Network", "(null)")],
        [("Command", v.command(j))],
        [("WorkDir", j.get("working_dir"))],
        [("StdErr", j.get("stderr"))],
        [("StdIn", "/dev/null")],
        [("StdOut", j.get("stdout"))],
    ]


def node_pairs(n: dict[str, Any], partitions: list[str]) -> Pairs:
    state = n["state"]
    if state in ("DRAINED", "DRAINING"):
        state = ("MIXED" if n["cpus_used"] else "IDLE") + "+DRAIN"
    top = n.get("topology") or {}  # as the node's agent read it (docs/resources.md)
    sockets = max(1, int(top.get("sockets") or 1))
    cores = int(top.get("cores") or 0)
    per_socket = cores // sockets if cores else n["cpus"]
    threads = max(1, int(top.get("threads") or 0) // cores) if cores else 1
    pairs: Pairs = [
        [("NodeName", n["name"]), ("Arch", "x86_64"), ("CoresPerSocket", per_socket)],
        [("CPUAlloc", n["cpus_used"]), ("CPUEfctv", n["cpus"]), ("CPUTot", n["cpus"]),
         ("CPULoad", "N/A")],
        [("AvailableFeatures", ",".join(n["features"]) or "(null)")],
        [("ActiveFeatures", ",".join(n["features"]) or "(null)")],
        [("Gres", node_text(n["gpus"], n.get("gres") or {}) or "(null)")],
        [("NodeAddr", n["name"]), ("NodeHostName", n["name"])],
        [("RealMemory", n["mem_mb"]), ("AllocMem", n["mem_mb_used"]),
         ("FreeMem", n["mem_mb"] - n["mem_mb_used"]), ("Sockets", sockets), ("Boards", 1)],
        [("State", state), ("ThreadsPerCore", threads), ("TmpDisk", 0), ("Weight", 1)],
        [("Partitions", ",".join(partitions) or "(null)")],
        [("LastBusyTime", timefmt.stamp(n.get("t_last_seen") or time.time()))],
    ]
    if n.get("drain_reason"):
        pairs.append([("Reason", n["drain_reason"])])
    return pairs


def partition_pairs(p: dict[str, Any]) -> Pairs:
    from corral.model import hostlist
    max_time = p.get("max_time_s")
    default_time = p.get("default_time_s")
    return [
        [("PartitionName", p["name"])],
        [("AllowGroups", "ALL"), ("AllowAccounts", "ALL"), ("AllowQos", "ALL")],
        [("Default", "YES" if p.get("default") else "NO"), ("QoS", "N/A")],
        [("DefaultTime", timefmt.limit(default_time, compact_form=False)
          if default_time else "NONE"), ("Hidden", "NO")],
        [("MaxNodes", p.get("max_nodes") or "UNLIMITED"),
         ("MaxTime", timefmt.limit(max_time, compact_form=False)), ("MinNodes", 0)],
        [("Nodes", hostlist.compress(p["nodes"]) or "(null)")],
        [("State", "UP"), ("TotalCPUs", p.get("cpus", 0)), ("TotalNodes", len(p["nodes"]))],
    ]


def render(pairs: Pairs, oneliner: bool) -> str:
    if oneliner:
        return " ".join(f"{k}={val}" for line in pairs for k, val in line)
    lines = [" ".join(f"{k}={val}" for k, val in line) for line in pairs]
    return "\n".join([lines[0], *("   " + ln for ln in lines[1:])]) + "\n"
