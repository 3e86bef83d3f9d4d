"""qstat: the queue as Grid Engine shows it (plain table, -j N, -xml, -u, -s)."""

from __future__ import annotations

import sys
from typing import Any
from xml.sax.saxutils import escape

from corral.compat import frontend
from corral.compat.sge import view
from corral.model.arrays import listing_order

PROG = "qstat"
HEADER = ("job-ID  prior   name       user         state submit/start at     "
          "queue                          slots ja-task-ID ")


def _row(j: dict[str, Any]) -> str:
    st = view.state(j)
    t = j.get("t_start") if st == "r" else j.get("t_submit")
    return (f"{view.job_number(j):>7} {min(1.0, float(j.get('priority') or 0)):7.5f} "
            f"{j['name'][:10]:<10} {j['user'][:12]:<12} {st:<5} {view.stamp(t):<19} "
            f"{view.queue(j)[:30]:<30} {j['cpus']:>5} {view.task(j)}")


def _detail(j: dict[str, Any]) -> list[str]:
    spec = j.get("spec") or {}
    res = [f"h_rt={j['time_limit_s']}"] if j.get("time_limit_s") else []
    if j.get("mem_mb_per_node"):
        res.append(f"h_vmem={j['mem_mb_per_node']}M")
    rows = [
        ("job_number", view.job_number(j)), ("exec_file", f"job_scripts/{j['id']}"),
        ("submission_time", view.ctime(j.get("t_submit"))), ("owner", j["user"]),
        ("uid", j["uid"]), ("group", j["gid"]), ("gid", j["gid"]),
        ("sge_o_workdir", j["working_dir"]), ("account", j.get("account") or "sge"),
        ("cwd", j["working_dir"]), ("stderr_path_list", f"NONE:NONE:{j['stderr']}"),
        ("stdout_path_list", f"NONE:NONE:{j['stdout']}"),
        ("merge", "y" if j["stderr"] == j["stdout"] else "n"),
        ("hard resource_list", ",".join(res) or "NONE"),
        ("job_name", j["name"]), ("hard_queue_list", j["partition"]),
        ("restart", "y" if spec.get("requeue", True) else "n"),
        ("state", view.state(j)),
    ]
    if spec.get("array"):
        rows.append(("job-array tasks", spec["array"]))
    if j.get("dependency"):
        rows.append(("jid_predecessor_list", j["dependency"]))
    if j.get("node_list"):
        rows.append(("exec_host_list        1", ",".join(j["node_list"])))
    if view.state(j) != "r":
        rows.append(("scheduling info", j.get("reason") or "-"))
    return [f"{k + ':':<28}{v}" for k, v in rows]


def _xml(jobs: list[dict[str, Any]], full: bool = True) -> str:
    def job_xml(j: dict[str, Any]) -> str:
        st = view.state(j)
        running = st == "r"
        t = (f"<JAT_start_time>{_iso(j.get('t_start'))}</JAT_start_time>" if running
             else f"<JB_submission_time>{_iso(j.get('t_submit'))}</JB_submission_time>")
        task = f"\n      <tasks>{view.task(j)}</tasks>" if view.task(j) else ""
        return (f'    <job_list state="{"running" if running else "pending"}">\n'
                f"      <JB_job_number>{view.job_number(j)}</JB_job_number>\n"
                f"      <JAT_prio>{min(1.0, float(j.get('priority') or 0)):.5f}</JAT_prio>\n"
                f"      <JB_name>{escape(j['name'])}</JB_name>\n"
                f"      <JB_owner>{escape(j['user'])}</JB_owner>\n"
                f"      <state>{st}</state>\n      {t}\n"
                f"      <queue_name>{escape(view.queue(j))}</queue_name>\n"
                f"      <slots>{j['cpus']}</slots>{task}\n    </job_list>\n")
    running = "".join(job_xml(j) for j in jobs if view.state(j) == "r")
    waiting = "".join(job_xml(j) for j in jobs if view.state(j) != "r")
    return ("<?xml version='1.0'?>\n<job_info  xmlns:xsd=\"http://arc.liu.se/"
            "ArcSchema/sge/qstat.xsd\">\n"
            f"  <queue_info>\n{running}  </queue_info>\n"
            f"  <job_info>\n{waiting}  </job_info>\n</job_info>")


def _iso(t: float | None) -> str:
    import time
    return "" if t is None else time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def qstat(argv: list[str]) -> int:
    users: list[str] | None = [frontend.me()]
    show_xml, detail, states = False, None, "prsh"
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-xml":
            show_xml = True
        elif a == "-u" and i + 1 < len(argv):
            i += 1
            users = None if argv[i] in ("*", "'*'") else argv[i].split(",")
        elif a == "-j" and i + 1 < len(argv):
            i += 1
            detail = argv[i]
        elif a == "-s" and i + 1 < len(argv):
            i += 1
            states = argv[i]
        elif a in ("-f", "-r", "-ext", "-t", "-urg", "-pri", "-g", "-F", "-explain"):
            pass
        elif a in ("-q", "-l", "-pe"):
            i += 1
        elif a == "-help":
            print("usage: qstat [-u user|'*'] [-j job_list] [-xml] [-s {p|r|s|z|hp...}]")
            return 0
        else:
            frontend.fail(f"ERROR! invalid option argument \"{a}\"", 1)
        i += 1
    with frontend.client() as c:
        if detail is not None:
            return _show_jobs(c, detail, show_xml)
        jobs: list[dict[str, Any]] = list(c.jobs(user=users, brief=True))
    want = set()
    for ch in states:
        want |= {"p": {"qw", "hqw", "Rq"}, "r": {"r"}, "s": {"s"}, "h": {"hqw"},
                 "z": {"z"}, "a": {"qw", "hqw", "Rq", "r", "s"}}.get(ch, set())
    jobs = [j for j in jobs if view.state(j) in want]
    jobs.sort(key=lambda j: (view.state(j) != "r", listing_order(j)))
    if show_xml:
        print(_xml(jobs))
        return 0
    if jobs:
        print(HEADER)
        print("-" * (len(HEADER) + 13))
        for j in jobs:
            print(_row(j).rstrip())
    return 0


def _show_jobs(c: Any, detail: str, show_xml: bool) -> int:
    """-j: the jobs still in the queue; a finished job has left it, as in Grid Engine,
    and if none of those asked for is left: `Following jobs do not exist`, exit 1."""
    found: list[dict[str, Any]] = []
    missing = []
    for spec in view.parse_ids([detail], PROG):
        js = [j for j in view.jobs_for(c, spec) if view.state(j) != "z"]
        found.extend(js)
        if not js:
            missing.append(spec)
    if not found:
        print("Following jobs do not exist: ", file=sys.stderr)
        print(", ".join(missing), file=sys.stderr)
        return 1
    if show_xml:
        print(_xml(found))
        return 0
    for j in found:
        print("=" * 62)
        print("\n".join(_detail(j)))
    return 0


def main() -> None:
    frontend.run(PROG, qstat, error_prefix="")


if __name__ == "__main__":
    main()
