"""A corral job seen as an HTCondor job ClassAd; ids `cluster[.proc]`; the output
forms every HTCondor query tool shares (-af, -format, -long)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from corral.compat import frontend
from corral.compat.condor.build import PROCS_MARK
from corral.model.intent import NO_REASON, REASONS, StopIntent

Row = dict[str, Any]
# JobStatus: 1 Idle, 2 Running, 3 Removed, 4 Completed, 5 Held, 7 Suspended
_STATUS = {"PENDING": 1, "RUNNING": 2, "COMPLETING": 2, "CANCELLED": 3, "COMPLETED": 4,
           "HELD": 5, "SUSPENDED": 7}
ST_LETTER = {1: "I", 2: "R", 3: "X", 4: "C", 5: "H", 6: ">", 7: "S"}
_ID = re.compile(r"^(\d+)(?:\.(\d+))?$")


def status(j: Row) -> int:
    s = _STATUS.get(j["state"])
    if s is not None:
        return s
    # failed, timed out, out of memory, node failure: ended, with a code
    return 4


def hold_reason(j: Row) -> str:
    """HoldReason as HTCondor words a hold by condor_hold; corral's reason otherwise
    (a job the scheduler held says why)."""
    reason = j.get("reason")
    if reason in (None, "", NO_REASON, REASONS[StopIntent.HOLD_USER]):
        return f"via condor_hold (by user {j['user']})"
    if reason == REASONS[StopIntent.HOLD_ADMIN]:
        return "via condor_hold (by an administrator)"
    return str(reason)


def cluster_proc(j: Row) -> tuple[int, int]:
    a = j.get("array_job_id")
    if a is not None:
        return int(a), int(j.get("array_task_id") or 0)
    return int(j["id"]), 0


def job_id(j: Row) -> str:
    c, p = cluster_proc(j)
    return f"{c}.{p}"


def proc_facts(j: Row) -> dict[str, Any]:
    """What condor_submit wrote of this proc into its script (its command, files)."""
    spec = j.get("spec") or {}
    script = spec.get("script") or ""
    for line in script.splitlines()[:4]:
        if line.startswith(PROCS_MARK):
            try:
                procs = json.loads(line[len(PROCS_MARK):])
            except ValueError:
                break
            _, proc = cluster_proc(j)
            if 0 <= proc < len(procs):
                out: dict[str, Any] = procs[proc]
                c, _ = cluster_proc(j)
                return {k: (v.replace("$(Cluster)", str(c)) if isinstance(v, str) else v)
                        for k, v in out.items()}
    argv = list(spec.get("argv") or [])
    return {"Cmd": argv[0] if argv else (script.splitlines() or [""])[0], "Args": argv[1:],
            "Iwd": j.get("working_dir", ""), "Out": j.get("stdout", ""),
            "Err": j.get("stderr", ""), "In": "/dev/null"}


def ad(j: Row) -> dict[str, Any]:
    """The job's ClassAd attributes (the ones HTCondor's tools are asked for most)."""
    c, p = cluster_proc(j)
    f = proc_facts(j)
    st = status(j)
    t_end = j.get("t_end")
    entered = t_end or j.get("t_start") or j.get("t_submit")
    out: dict[str, Any] = {
        "ClusterId": c, "ProcId": p, "GlobalJobId": f"corral#{c}.{p}#{int(j['t_submit'])}",
        "Owner": j["user"], "User": j["user"], "JobStatus": st, "Cmd": f["Cmd"],
        "Args": " ".join(f["Args"]), "Arguments": " ".join(f["Args"]), "Iwd": f["Iwd"],
        "Out": f["Out"], "Err": f["Err"], "In": f["In"],
        "RequestCpus": j["cpus_per_node"], "RequestMemory": j.get("mem_mb_per_node") or 0,
        "RequestGpus": j.get("gpus_per_node") or 0, "QDate": int(j["t_submit"]),
        "EnteredCurrentStatus": int(entered) if entered else 0,
        "JobPrio": -int((j.get("spec") or {}).get("nice") or 0),
        "NumJobStarts": (1 if j.get("t_start") else 0) + int(j.get("restarts") or 0),
        "JobRunCount": (1 if j.get("t_start") else 0) + int(j.get("restarts") or 0),
        "JobBatchName": j["name"], "AcctGroup": j.get("account") or "",
        "Requirements": (j.get("spec") or {}).get("requirements") or "true",
        "Rank": (j.get("spec") or {}).get("rank") or "0.0",
        "JobUniverse": 5, "ImageSize": int((j.get("max_rss_mb") or 0) * 1024),
        "RemoteUserCpu": float(j.get("cpu_time_s") or 0),
    }
    if j.get("t_start") is not None:
        out["JobStartDate"] = out["JobCurrentStartDate"] = int(j["t_start"])
        end = t_end or time.time()
        out["RemoteWallClockTime"] = float(int(end - j["t_start"]))
    if j.get("node_list") and st == 2:
        out["RemoteHost"] = f"slot1@{j['node_list'][0]}"
    if t_end is not None:
        out["CompletionDate"] = int(t_end) if st == 4 else 0
        sig = j.get("signal")
        out["ExitBySignal"] = bool(sig)
        if sig:
            out["ExitSignal"] = int(sig)
        else:
            out["ExitCode"] = int(j.get("exit_code") or 0)
    if st == 5:
        out["HoldReason"] = hold_reason(j)
        out["HoldReasonCode"] = 1
    if st == 3:
        out["RemoveReason"] = "via condor_rm (by user " + j["user"] + ")"
    return out


def literal(v: Any) -> str:
    """A value as a ClassAd prints it (condor_q -long, -af:r)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def plain(v: Any) -> str:
    """A value as -af prints it: strings without their quotes."""
    if v is None:
        return "undefined"
    return literal(v) if not isinstance(v, str) else v


def lookup(a: dict[str, Any], name: str) -> Any:
    low = {k.lower(): k for k in a}
    key = low.get(name.lower())
    return a[key] if key is not None else None


def take_af(argv: list[str], i: int) -> tuple[tuple[str, list[str]], int]:
    """`-af[:opts] ATTR…` at argv[i]: every following argument that is not an option
    is an attribute (as HTCondor's tools read it); -> ((opts, attrs), next index)."""
    a = argv[i]
    opts = a.split(":", 1)[1] if ":" in a else ""
    attrs = []
    i += 1
    while i < len(argv) and not argv[i].startswith("-"):
        attrs.append(argv[i])
        i += 1
    if not attrs:
        frontend.fail(f"Error: Argument {a} requires attributes", 1)
    return (opts, attrs), i


def autoformat(rows: list[dict[str, Any]], attrs: list[str], opts: str) -> list[str]:
    """-af[:jlhrnt,] ATTR ...: values separated by spaces (`,`: commas; `t`: tabs; `n`:
    newlines), `l` with names, `h` a header line, `j` the job id first, `r` raw."""
    sep = "," if "," in opts else "\t" if "t" in opts else "\n" if "n" in opts else " "
    out = []
    if "h" in opts:
        out.append(sep.join((["ID"] if "j" in opts else []) + attrs))
    for a in rows:
        vals = [literal(lookup(a, n)) if "r" in opts and lookup(a, n) is not None
                else plain(lookup(a, n)) for n in attrs]
        if "l" in opts:
            vals = [f"{n} = {v}" for n, v in zip(attrs, vals, strict=True)]
        if "j" in opts:
            vals.insert(0, f"{a['ClusterId']}.{a['ProcId']}")
        out.append(sep.join(vals))
    return out


_PRINTF = re.compile(r"%[-+ #0]*\d*(?:\.\d+)?[a-zA-Z]")


def format_pairs(rows: list[dict[str, Any]], pairs: list[tuple[str, str]]) -> str:
    """-format FMT ATTR ...: printf per attribute, nothing added between them."""
    out = []
    for a in rows:
        for fmt, name in pairs:
            v = lookup(a, name)
            m = _PRINTF.search(fmt)
            if v is None:
                out.append(fmt.replace(m.group(0), "undefined") if m else fmt)
                continue
            conv = m.group(0)[-1] if m else "s"
            try:
                if conv in "di":
                    value: Any = int(float(v))
                elif conv in "fgeFGE":
                    value = float(v)
                else:
                    value = plain(v)
                out.append(fmt % value if m else fmt)
            except (TypeError, ValueError):
                out.append(fmt.replace(m.group(0), plain(v)) if m else fmt)
    return "".join(out).encode().decode("unicode_escape")


def long_form(rows: list[dict[str, Any]], attrs: list[str] | None = None) -> str:
    blocks = []
    for a in rows:
        keys = attrs or sorted(a)
        blocks.append("\n".join(f"{k} = {literal(a[k])}" for k in keys if k in a))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def parse_ids(words: list[str], prog: str) -> tuple[list[tuple[int, int | None]], list[str]]:
    """Job ids (`27`, `27.3`) and owner names among the arguments."""
    ids: list[tuple[int, int | None]] = []
    owners: list[str] = []
    for w in words:
        m = _ID.match(w)
        if m:
            if int(m.group(1)) > 2**31 - 1:
                frontend.fail(f"{prog}: {w} is not a valid job id", 1)
            ids.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None))
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.@-]*", w):
            owners.append(w.split("@")[0])
        else:
            frontend.fail(f"{prog}: {w!r} is neither a job id nor a user name", 1)
    return ids, owners


def stamp(t: float | None) -> str:
    return "" if not t else time.strftime("%m/%d %H:%M", time.localtime(t))


def duration(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 86400}+{s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
