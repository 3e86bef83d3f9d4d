"""qacct -j N: a finished job's accounting record as Grid Engine prints it."""

from __future__ import annotations

import sys
from typing import Any

from corral.compat import frontend
from corral.compat.sge import view
from corral.model.states import FINAL_JOB_STATES

PROG = "qacct"
_FAILED = {"COMPLETED": "0", "FAILED": "0", "CANCELLED": "100 : assumedly after job",
           "TIMEOUT": "37  : qmaster enforced h_rt, h_cpu, or h_vmem limit",
           "OUT_OF_MEMORY": "100 : assumedly after job", "NODE_FAIL": "21  : in recognizing job",
           "PREEMPTED": "100 : assumedly after job"}
_FINAL = frozenset(str(s) for s in FINAL_JOB_STATES)


def record(j: dict[str, Any]) -> list[str]:
    wall = 0.0
    if j.get("t_start") is not None and j.get("t_end") is not None:
        wall = j["t_end"] - j["t_start"]
    code = j.get("exit_code")
    status = code if code is not None else (128 + int(j.get("signal") or 0))
    rows = [
        ("qname", j["partition"]), ("hostname", (j.get("node_list") or ["-"])[0]),
        ("group", j["gid"]), ("owner", j["user"]), ("project", "NONE"),
        ("department", "defaultdepartment"), ("jobname", j["name"]),
        ("jobnumber", view.job_number(j)), ("taskid", view.task(j) or "undefined"),
        ("account", j.get("account") or "sge"), ("priority", 0),
        ("qsub_time", view.ctime(j.get("t_submit"))),
        ("start_time", view.ctime(j.get("t_start"))), ("end_time", view.ctime(j.get("t_end"))),
        ("granted_pe", "smp" if j["cpus"] > 1 else "NONE"), ("slots", j["cpus"]),
        ("failed", _FAILED.get(j["state"], "0")), ("exit_status", status),
        ("ru_wallclock", f"{wall:.3f}s"), ("cpu", f"{float(j.get('cpu_time_s') or 0):.3f}s"),
        ("maxvmem", f"{float(j.get('max_rss_mb') or 0):.3f}M"),
    ]
    return [f"{k:<13}{v}" for k, v in rows]


def qacct(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "-j":
        frontend.fail("usage: qacct -j job_id|job_name", 1)
    target = argv[1]
    with frontend.client() as c:
        if view.is_job_id(target):
            jobs = [j for j in c.jobs(history=True, id=[target])]
            jobs += [j for j in c.jobs(history=True, array=target)
                     if j.get("array_job_id") == int(target) and j["id"] != int(target)]
        else:
            jobs = c.jobs(history=True, name=[target])
    jobs = [j for j in jobs if j["state"] in _FINAL]
    if not jobs:
        print(f"error: job id {target} not found", file=sys.stderr)
        return 1
    for j in sorted(jobs, key=lambda j: j["id"]):
        print("=" * 62)
        print("\n".join(record(j)))
    return 0


def main() -> None:
    frontend.run(PROG, qacct, error_prefix="")


if __name__ == "__main__":
    main()
