"""The job table of `corral jobs` and the lines of `corral show`, without click:
the full command line and the entry point's fast paths (corral.cli.entry) print
the same text."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from corral.model.states import FINAL_JOB_STATES as _FINAL
from corral.model.units import format_clock_s

STATE_CODES = {
    "PENDING": "PD", "HELD": "PD", "RUNNING": "R", "SUSPENDED": "S", "COMPLETING": "CG",
    "COMPLETED": "CD", "FAILED": "F", "CANCELLED": "CA", "TIMEOUT": "TO",
    "OUT_OF_MEMORY": "OOM", "NODE_FAIL": "NF", "PREEMPTED": "PR",
}
HEADERS = ("JOBID", "PARTITION", "NAME", "USER", "ST", "TIME", "NODES")
LONG_HEADERS = ("PRIORITY", "TIME_LIMIT", "EXPECTED_START")


def table_text(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns two spaces apart, trailing blanks dropped."""
    return _aligned(headers, [[str(c) for c in r] for r in rows])


def _aligned(headers: Sequence[str], cells: list[list[str]]) -> str:
    columns = zip(*cells, strict=True) if cells else [()] * len(headers)
    widths = [max(len(h), max(map(len, column), default=0))
              for h, column in zip(headers, columns, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip()]
    lines += [fmt.format(*r).rstrip() for r in cells]
    return "\n".join(lines)


def elapsed(job: Any) -> float | None:
    """How long a job has run (to its end, or to now); None if it never started."""
    if job.get("t_start") is None:
        return None
    end = job.get("t_end") or time.time()
    return float(end - job["t_start"])


def when(t: float | None) -> str:
    """A time as local ISO date and time ("-": none)."""
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def job_table(found: Iterable[Any], *, long_format: bool, show_final: bool) -> str:
    """The table of these jobs (the API's brief view), the finished ones only if
    `show_final`."""
    now = time.time()
    clock = format_clock_s
    codes = STATE_CODES
    rows: list[list[str]] = []
    for j in found:
        state = j["state"]
        final = state in _FINAL
        if final and not show_final:
            continue
        if final:
            where = ",".join(j["node_list"]) or "-"
        else:
            where = ",".join(j["node_list"]) if j["node_list"] else f"({j['reason']})"
        t_start = j.get("t_start")
        row = [str(j.get("display_id", j["id"])), str(j["partition"]), j["name"][:20],
               str(j["user"]), codes.get(state, state),
               "0:00" if t_start is None else clock((j.get("t_end") or now) - t_start),
               str(j["nodes"])]
        if long_format:
            row += [f"{j['priority']:.4f}",
                    clock(j["time_limit_s"]) if j["time_limit_s"] else "UNLIMITED",
                    when(j.get("t_expected_start")) if state == "PENDING" else "-"]
        row.append(where)
        rows.append(row)
    headers = [*HEADERS, *(LONG_HEADERS if long_format else ()), "NODELIST(REASON)"]
    return _aligned(headers, rows)


def show_lines(j: dict[str, Any]) -> list[tuple[str, Any]]:
    """`corral show`'s fields of a job (the API's one-job view), in order."""
    return [
        ("JobId", j["id"]), ("Name", j["name"]), ("User", f"{j['user']}({j['uid']})"),
        ("State", j["state"]), ("Reason", j["reason"]), ("Partition", j["partition"]),
        ("Account", j["account"] or "-"), ("Priority", round(j["priority"], 6)),
        ("Nodes", j["nodes"]), ("CPUsPerNode", j["cpus_per_node"]),
        ("MemPerNode", f"{j['mem_mb_per_node']}M" if j["mem_mb_per_node"] else "-"),
        ("GPUsPerNode", j["gpus_per_node"]),
        ("TimeLimit", format_clock_s(j["time_limit_s"]) if j["time_limit_s"] else "UNLIMITED"),
        ("SubmitTime", when(j["t_submit"])), ("StartTime", when(j["t_start"])),
        ("ExpectedStart", when(j.get("t_expected_start"))),
        ("EndTime", when(j["t_end"])), ("RunTime", format_clock_s(elapsed(j))),
        ("NodeList", ",".join(j["node_list"]) or "-"),
        *_cpu_ids(j),
        ("ExitCode", "-" if j["exit_code"] is None else j["exit_code"]),
        ("Signal", j["signal"] or "-"),
        ("CPUTime", "-" if j["cpu_time_s"] is None else f"{j['cpu_time_s']:.2f}s"),
        ("MaxRSS", "-" if j["max_rss_mb"] is None else f"{j['max_rss_mb']:.1f}M"),
        ("Restarts", j["restarts"]), ("Retries", _retries(j)), ("WorkDir", j["working_dir"]),
        ("StdOut", j["stdout"]), ("StdErr", j["stderr"]), *_matchmaking(j),
    ]


def _cpu_ids(j: dict[str, Any]) -> list[tuple[str, Any]]:
    """The CPU ids the scheduler chose on each node, for a job that has them."""
    ids = j.get("cpu_ids") or {}
    if not ids:
        return []
    from corral.model.topology import format_cpulist  # (only for a job that has them)

    return [("CPUIDs", " ".join(f"{node}:{format_cpulist(cpus) or '-'}"
                                for node, cpus in ids.items()))]


def _matchmaking(j: dict[str, Any]) -> list[tuple[str, Any]]:
    """Requirements, Rank and the retry count, for a job that has them."""
    spec = j.get("spec") or {}
    out: list[tuple[str, Any]] = [(label, spec[key]) for label, key in
                                  (("Requirements", "requirements"), ("Rank", "rank"))
                                  if spec.get(key)]
    if spec.get("retry_count"):
        out.append(("RetryCount", f"{j.get('deep_retries', 0)} (max {spec['retry_count']})"))
    return out


def _retries(j: dict[str, Any]) -> str:
    """Automatic requeues so far, and the job's own limit if it set one."""
    limit = (j.get("spec") or {}).get("max_retries")
    return f"{j.get('retries', 0)}" + (f" (max {limit})" if limit is not None else "")


def show_text(j: dict[str, Any]) -> str:
    """`corral show`'s lines: each key padded to 12 characters, then its value."""
    return "".join(f"{key:<12} {value}\n" for key, value in show_lines(j))
