"""sreport: usage reports in Slurm's syntax and layouts (docs/accounting.md).

    sreport [-t hours|minutes|seconds|percent|hourper|minper|secper] [-P|-p] [-n]
            cluster utilization | cluster AccountUtilizationByUser | user top
            [start=TIME] [end=TIME] [users=..] [accounts=..] [topcount=N] [group]
            [format=F1,F2]

Times are CPU time (the only TRES reported), in minutes by default. Without
start/end: yesterday, 00:00 to 00:00 local time, as Slurm's. corral's periods are
whole hours. Energy is empty where it is not known (Slurm prints 0)."""

from __future__ import annotations

import json
import pwd
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from corral.compat import frontend, timefmt
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm.sbatch import SLURM_VERSION

CLUSTER = "corral"
TABLE = [
    Opt("parsable2", "parsable2", NONE, "P"), Opt("parsable", "parsable", NONE, "p"),
    Opt("noheader", "noheader", NONE, "n"), Opt("time-format", "time", REQUIRED, "t"),
    Opt("tres", "tres", REQUIRED, "T"), Opt("cluster", "ignored", REQUIRED, "M"),
    Opt("all_clusters", "ignored", NONE, "a"), Opt("quiet", "ignored", NONE, "Q"),
    Opt("verbose", "ignored", NONE, "v"), Opt("immediate", "ignored", NONE, "i"),
    Opt("json", "json", NONE), Opt("version", "version", NONE, "V"),
    Opt("help", "help", NONE, "h"), Opt("usage", "help", NONE),
]
# -t: (seconds per unit, with the percentage too, the words after "Usage reported in")
TIME_FORMATS = {"seconds": (1.0, False, "CPU Seconds"),
                "minutes": (60.0, False, "CPU Minutes"),
                "hours": (3600.0, False, "CPU Hours"),
                "percent": (0.0, True, "Percentage of Total"),
                "secper": (1.0, True, "CPU Seconds/Percentage of Total"),
                "minper": (60.0, True, "CPU Minutes/Percentage of Total"),
                "hourper": (3600.0, True, "CPU Hours/Percentage of Total")}
# field -> (header, width: negative left-justified; the width with a percentage)
FIELDS: dict[str, tuple[str, int, int]] = {
    "cluster": ("Cluster", 9, 9), "allocated": ("Allocated", 12, 20),
    "down": ("Down", 10, 18), "planneddown": ("PLND Down", 10, 18),
    "idle": ("Idle", 12, 20), "planned": ("Planned", 9, 18),
    "reported": ("Reported", 12, 20), "login": ("Login", 9, 9),
    "proper": ("Proper Name", 15, 15), "accounts": ("Account", 15, 15),
    "used": ("Used", 10, 18), "energy": ("Energy", 10, 18),
}
# in Slurm's order of matching: (canonical name, the shortest prefix accepted)
_NAMES = (("accounts", 2), ("allocated", 2), ("cluster", 2), ("down", 1), ("idle", 1),
          ("login", 1), ("planned", 7), ("reserved", 3), ("planneddown", 2),
          ("proper", 2), ("reported", 3), ("used", 1), ("energy", 1))
UTILIZATION = "Cluster,Allocated,Down,PlannedDown,Idle,Planned,Reported"
TOP = "Cluster,Login,Proper,Account,Used,Energy"
BY_USER = "Cluster,Account,Login,Proper,Used,Energy"


def _field(name: str) -> str:
    low = name.lower()
    for canon, least in _NAMES:
        if (len(low) >= least and canon.startswith(low)) or canon == low:
            return "planned" if canon == "reserved" else canon
    raise frontend.Exit(1, f" Unknown field '{name}'")


def _conditions(words: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for w in words:
        key, eq, value = w.partition("=")
        k = key.lower()
        for name, least in (("start", 1), ("end", 1), ("users", 1), ("accounts", 2),
                            ("topcount", 1), ("format", 1), ("group", 1), ("tree", 4),
                            ("clusters", 1)):
            if len(k) >= least and name.startswith(k):
                out[name] = value if eq else "yes"
                break
        else:
            raise frontend.Exit(1, f" Unknown condition: {w}")
    return out


def _period(cond: dict[str, str]) -> tuple[float, float]:
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        start = timefmt.parse_stamp(cond["start"]) if cond.get("start") else \
            (today - timedelta(days=1)).timestamp()
        end = timefmt.parse_stamp(cond["end"]) if cond.get("end") else today.timestamp()
    except Exception as e:
        raise frontend.Exit(1, str(e)) from None
    return start, min(end, time.time() + 3600)


def _proper(user: str) -> str:
    try:
        return pwd.getpwnam(user).pw_gecos.split(",")[0]
    except (KeyError, ValueError):
        return ""


class Printer:
    def __init__(self, o: dict[str, Any], fields: list[str]) -> None:
        self.parsable = "parsable" in o or "parsable2" in o
        self.trailing = "parsable" in o and "parsable2" not in o
        self.header = "noheader" not in o
        fmt = str(o.get("time") or "minutes").lower()
        key = next((k for k in TIME_FORMATS if k.startswith(fmt) and fmt), None)
        if key is None:
            raise frontend.Exit(1, f"unknown time format {fmt}")
        self.unit_s, self.per, self.words = TIME_FORMATS[key]
        self.fields = fields

    def time(self, seconds: float | None, total_s: float) -> str:
        if seconds is None:
            return ""
        pct = 100.0 * seconds / total_s if total_s else 0.0
        if not self.unit_s:
            return f"{pct:.2f}%"
        v = f"{seconds / self.unit_s:.0f}" if self.unit_s != 1 else f"{round(seconds)}"
        return f"{v}({pct:.2f}%)" if self.per else v

    def banner(self, title: str) -> None:
        if self.header:
            print("-" * 80)
            print(title)
            print(f"Usage reported in {self.words}")
            print("-" * 80)

    def table(self, rows: list[dict[str, str]]) -> None:
        cols = []
        for f in self.fields:
            width = FIELDS[f][2] if self.per else FIELDS[f][1]
            if f in ("used", "energy"):  # as wide as their largest value, as Slurm's
                width = max([width, *(len(r.get(f, "")) for r in rows)])
            cols.append((f, FIELDS[f][0], width))
        if self.parsable:
            tail = "|" if self.trailing else ""
            if self.header:
                print("|".join(h for _, h, _ in cols) + tail)
            for r in rows:
                print("|".join(r.get(f, "") for f, _, _ in cols) + tail)
            return
        if self.header:
            print(" ".join(f"{h[:w]:>{w}}" for _, h, w in cols) + " ")
            print(" ".join("-" * w for _, _, w in cols) + " ")
        for r in rows:
            print(" ".join(_cell(r.get(f, ""), w, f) for f, _, w in cols) + " ")


def _cell(text: str, width: int, field: str) -> str:
    text = text[:width]
    return text.ljust(width) if field == "accounts" and text.startswith(" ") \
        else text.rjust(width)


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def utilization(o: dict[str, Any], cond: dict[str, str]) -> None:
    start, end = _period(cond)
    p = Printer(o, [_field(f) for f in (cond.get("format") or UTILIZATION).split(",") if f])
    with frontend.client() as c:
        data = c.report("utilization", start=start, end=end)
    if "json" in o:
        print(json.dumps(data))
        return
    t = data["totals"]
    total = t["reported"]
    p.banner(f"Cluster Utilization {_stamp(data['start'])} - {_stamp(data['end'] - 1)}")
    row = {"cluster": CLUSTER, "allocated": p.time(t["allocated"], total),
           "down": p.time(t["down"], total), "planneddown": p.time(t["planned_down"], total),
           "idle": p.time(t["idle"], total), "planned": p.time(t["reserved"], total),
           "reported": p.time(total, total)}
    p.table([row])


def _cluster_total(start: float, end: float) -> float:
    with frontend.client() as c:
        return float(c.report("utilization", start=start, end=end)["totals"]["reported"])


def _list(cond: dict[str, str], key: str) -> list[str] | None:
    items = [x for x in cond.get(key, "").split(",") if x]
    return items or None


def user_top(o: dict[str, Any], cond: dict[str, str]) -> None:
    start, end = _period(cond)
    p = Printer(o, [_field(f) for f in (cond.get("format") or TOP).split(",") if f])
    try:
        top = int(cond.get("topcount") or 10)
    except ValueError:
        raise frontend.Exit(1, f"topcount: {cond['topcount']!r} is not a number") from None
    if top < 1:
        raise frontend.Exit(1, f"topcount: {top} is below 1")
    group = "group" in cond
    with frontend.client() as c:
        data = c.report("users", start=start, end=end, top=top, group=group,
                        user=_list(cond, "users"), account=_list(cond, "accounts"))
    if "json" in o:
        print(json.dumps(data))
        return
    total = _cluster_total(start, end)
    p.banner(f"Top {top} Users {_stamp(data['start'])} - {_stamp(data['end'] - 1)} "
             f"({data['end'] - data['start']} secs)")
    p.table([{"cluster": CLUSTER, "login": r["user"], "proper": _proper(r["user"]),
              "accounts": ",".join(r["accounts"]) if group else r["account"],
              "used": p.time(r["cpu_s"], total),
              "energy": "" if r["energy_j"] is None else f"{r['energy_j']:.0f}"}
             for r in data["users"]])


def account_by_user(o: dict[str, Any], cond: dict[str, str]) -> None:
    start, end = _period(cond)
    p = Printer(o, [_field(f) for f in (cond.get("format") or BY_USER).split(",") if f])
    with frontend.client() as c:
        data = c.report("accounts", start=start, end=end)
    if "json" in o:
        print(json.dumps(data))
        return
    users = set(_list(cond, "users") or [])
    accounts = set(_list(cond, "accounts") or [])
    tree = "tree" in cond
    total = _cluster_total(start, end)
    p.banner(f"Cluster/Account/User Utilization {_stamp(data['start'])} - "
             f"{_stamp(data['end'] - 1)} ({data['end'] - data['start']} secs)")
    rows = []
    for r in data["rows"]:
        if (users and r["user"] and r["user"] not in users) or \
                (users and not r["user"]) or (accounts and r["account"] not in accounts):
            continue
        indent = " " * (r["depth"] - (1 if r["user"] else 0)) if tree else ""
        rows.append({"cluster": CLUSTER, "accounts": indent + r["account"],
                     "login": r["user"], "proper": _proper(r["user"]) if r["user"] else "",
                     "used": p.time(r["cpu_s"], total),
                     "energy": "" if r["energy_j"] is None else f"{r['energy_j']:.0f}"})
    p.table(rows)


REPORTS: dict[tuple[str, str], Callable[[dict[str, Any], dict[str, str]], None]] = {
    ("cluster", "utilization"): utilization,
    ("cluster", "accountutilizationbyuser"): account_by_user,
    ("user", "top"): user_top,
    ("user", "topusage"): user_top,
}


def sreport(argv: list[str]) -> int:
    found, operands = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o or not operands:
        print("Usage: sreport [-t FORMAT] [-P|-p] [-n] cluster utilization | "
              "cluster AccountUtilizationByUser | user top [start=..] [end=..] "
              "[users=..] [accounts=..] [topcount=N] [group] [format=..]")
        return 0 if "help" in o else 1
    if o.get("tres") and o["tres"].lower() not in ("cpu", "cpu,"):
        raise frontend.Exit(1, f"tres: {o['tres']!r}: only cpu is reported")
    if len(operands) < 2:
        raise frontend.Exit(1, f"Not enough arguments for {operands[0]}")
    kind, name = operands[0].lower(), operands[1].lower()
    if name in ("accountutilizationbyuser", "acctutilizationbyuser", "abu"):
        name = "accountutilizationbyuser"
    report = REPORTS.get((kind, name))
    if report is None:
        raise frontend.Exit(1, f"Not valid report {operands[0]} {operands[1]}: corral "
                               "reports cluster utilization, cluster "
                               "AccountUtilizationByUser and user top")
    report(o, _conditions(operands[2:]))
    return 0


def main() -> None:
    frontend.run("sreport", sreport, error_prefix="sreport: error: ")


if __name__ == "__main__":
    main()
