"""condor_q (the queue) and condor_history (jobs that left it), in HTCondor's forms."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from corral.compat import frontend
from corral.compat.condor import view
from corral.model.errors import InvalidRequest

FINISHED = (3, 4)


@dataclass
class Query:
    ids: list[tuple[int, int | None]] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    all_users: bool = False
    af: tuple[str, list[str]] | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)
    long: bool = False
    attributes: list[str] | None = None
    as_json: bool = False
    nobatch: bool = False
    constraint: str | None = None
    only: int | None = None  # -hold, -run, -idle
    limit: int | None = None
    totals_only: bool = False


def parse(argv: list[str], prog: str) -> Query:
    q = Query()
    words: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        low = a.lower()
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if low.startswith(("-af", "-autoformat")):
            q.af, i = view.take_af(argv, i)
            continue
        if low in ("-format", "-constraint", "-limit", "-match", "-attributes",
                   "-name", "-pool"):
            if nxt is None:
                frontend.fail(f"Error: Argument {a} requires another parameter", 1)
            if low == "-format":
                if i + 2 >= len(argv):
                    frontend.fail("Error: -format requires format and attribute "
                                  "parameters", 1)
                q.pairs.append((argv[i + 1], argv[i + 2]))
                i += 3
                continue
            if low == "-constraint":
                q.constraint = nxt
            elif low in ("-limit", "-match"):
                if not nxt.isdigit() or int(nxt) < 1:
                    frontend.fail(f"Error: {a} {nxt!r} is not a positive number", 1)
                q.limit = int(nxt)
            elif low == "-attributes":
                q.attributes = [x for x in nxt.split(",") if x]
            i += 2
            continue
        if low in ("-long", "-l"):
            q.long = True
        elif low == "-json":
            q.as_json = True
        elif low in ("-nobatch", "-nob"):
            q.nobatch = True
        elif low in ("-allusers", "-all"):
            q.all_users = True
        elif low == "-hold":
            q.only, q.nobatch = 5, True
        elif low == "-run":
            q.only, q.nobatch = 2, True
        elif low == "-idle":
            q.only, q.nobatch = 1, True
        elif low in ("-totals", "-tot"):
            q.totals_only = True
        elif low in ("-batch", "-global", "-wide", "-w", "-dag", "-better-analyze",
                     "-analyze", "-currentrun", "-nooverview", "-forwards", "-backwards"):
            pass
        elif low in ("-help", "-h", "--help"):
            print(f"Usage: {prog} [-nobatch] [-af[:jlhrnt,] ATTR ...] [-format FMT ATTR] "
                  "[-long] [-json] [-constraint EXPR] [-allusers] [ID|OWNER ...]")
            raise frontend.Exit(0)
        elif a.startswith("-"):
            frontend.fail(f"Error: unknown argument {a}", 1)
        else:
            words.append(a)
        i += 1
    q.ids, q.owners = view.parse_ids(words, prog)
    if q.constraint is not None:
        _parse_constraint(q.constraint)
    return q


def _parse_constraint(expr: str) -> None:
    """Refuse an expression that is not a ClassAd expression before any job is read,
    as HTCondor does (a bad one is an error even when no job is there to test)."""
    try:
        _classad2().ExprTree(expr)
    except ImportError:
        frontend.fail("Error: -constraint needs HTCondor's classad2 (pip install htcondor)",
                      1)
    except Exception:
        frontend.fail(f"Error: could not parse constraint {expr}", 1)


def _matches(q: Query, a: dict[str, Any]) -> bool:
    if q.ids and not any(a["ClusterId"] == c and (p is None or a["ProcId"] == p)
                         for c, p in q.ids):
        return False
    if q.only is not None and a["JobStatus"] != q.only:
        return False
    if q.constraint is not None:
        return _constraint(q.constraint, a)
    return True


def _constraint(expr: str, a: dict[str, Any]) -> bool:
    try:
        classad2 = _classad2()
        value = classad2.ExprTree(expr).eval(classad2.ClassAd(
            {k: v for k, v in a.items() if isinstance(v, str | int | float | bool)}))
    except ImportError:
        frontend.fail("Error: -constraint needs HTCondor's classad2 (pip install htcondor)",
                      1)
    except Exception:
        frontend.fail(f"Error: could not evaluate constraint {expr}", 1)
    return value is True or (isinstance(value, int | float) and not isinstance(value, bool)
                             and value != 0)


def _classad2() -> Any:
    """HTCondor's ClassAd library; the drop-in commands start without site-packages
    (compat/install.py), which are loaded here if need be."""
    try:
        import classad2
    except ImportError:
        import site

        site.main()
        import classad2
    return classad2


def _print(q: Query, ads: list[dict[str, Any]], table: Any) -> None:
    if q.as_json:
        print(json.dumps(ads, indent=2))
    elif q.long:
        sys.stdout.write(view.long_form(ads, q.attributes))
    elif q.af is not None:
        for line in view.autoformat(ads, q.af[1], q.af[0]):
            print(line)
    elif q.pairs:
        sys.stdout.write(view.format_pairs(ads, q.pairs))
    else:
        table(ads)


def _schedd_line() -> str:
    host = socket.gethostname()
    return (f"\n\n-- Schedd: {host} : <127.0.0.1> @ "
            f"{time.strftime('%m/%d/%y %H:%M:%S')}")


def _totals(ads: list[dict[str, Any]], who: str) -> str:
    n: defaultdict[int, int] = defaultdict(int)
    for a in ads:
        n[a["JobStatus"]] += 1
    return (f"Total for {who}: {len(ads)} jobs; {n[4]} completed, {n[3]} removed, "
            f"{n[1]} idle, {n[2]} running, {n[5]} held, {n[7]} suspended")


def condor_q(argv: list[str]) -> int:
    q = parse(argv, "condor_q")
    me = frontend.me()
    users = None if q.all_users or q.ids else (q.owners or [me])
    with frontend.client() as c:
        jobs = c.jobs(user=users, expand_arrays=True)
    ads = [a for a in (view.ad(j) for j in jobs) if _matches(q, a)
           and a["JobStatus"] not in FINISHED]
    ads.sort(key=lambda a: (a["ClusterId"], a["ProcId"]))

    def table(rows: list[dict[str, Any]]) -> None:
        print(_schedd_line())
        if q.totals_only:
            pass
        elif q.nobatch:
            print(" ID        OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD")
            now = time.time()
            for a in rows:
                run = (now - a["JobCurrentStartDate"]) if a["JobStatus"] == 2 else \
                    a.get("RemoteWallClockTime", 0.0)
                cmd = (a["Cmd"].rsplit("/", 1)[-1] + " " + a["Args"]).strip()
                print(f"{a['ClusterId']:>6}.{a['ProcId']:<3} {a['Owner'][:14]:<14} "
                      f"{view.stamp(a['QDate']):>11} {view.duration(run):>12} "
                      f"{view.ST_LETTER[a['JobStatus']]:<2} {a['JobPrio']:<3} "
                      f"{a['ImageSize'] / 1024:4.1f} {cmd}")
        else:
            print("OWNER BATCH_NAME    SUBMITTED   DONE   RUN    IDLE  TOTAL JOB_IDS")
            batches: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for a in rows:
                batches[a["ClusterId"]].append(a)
            for cluster, group in batches.items():
                run = sum(a["JobStatus"] == 2 for a in group)
                idle = sum(a["JobStatus"] == 1 for a in group)
                held = sum(a["JobStatus"] == 5 for a in group)
                procs = sorted(a["ProcId"] for a in group)
                ids = (f"{cluster}.{procs[0]}" if len(procs) == 1
                       else f"{cluster}.{procs[0]}-{procs[-1]}")
                extra = f"      {held}" if held else ""
                print(f"{group[0]['Owner']:<5} ID: {cluster:<9} "
                      f"{view.stamp(group[0]['QDate']):>11} {'_':>6} "
                      f"{run or '_':>6} {idle or '_':>6} {len(group):>6}{extra} {ids}")
        print()
        print(_totals(rows, "query"))
        if users and len(users) == 1:
            print(_totals([a for a in ads if a["Owner"] == users[0]], users[0]))
        print(_totals(ads, "all users"))

    _print(q, ads, table)
    return 0


def condor_history(argv: list[str]) -> int:
    q = parse(argv, "condor_history")
    users = None if q.all_users or q.ids else (q.owners or None)
    with frontend.client() as c:
        try:
            jobs = c.jobs(user=users, history=True, expand_arrays=True)
        except InvalidRequest as e:
            frontend.fail(f"Error: {e}", 1)
    ads = [a for a in (view.ad(j) for j in jobs) if a["JobStatus"] in FINISHED
           and _matches(q, a)]
    ads.sort(key=lambda a: (a.get("EnteredCurrentStatus", 0), a["ClusterId"],
                            a["ProcId"]), reverse=True)
    if q.limit is not None:
        ads = ads[:q.limit]

    def table(rows: list[dict[str, Any]]) -> None:
        print(" ID     OWNER          SUBMITTED   RUN_TIME     ST COMPLETED   CMD")
        for a in rows:
            cmd = (a["Cmd"] + " " + a["Args"]).strip()
            done = view.stamp(a.get("CompletionDate") or a.get("EnteredCurrentStatus"))
            ran = view.duration(a.get("RemoteWallClockTime", 0))
            print(f"{a['ClusterId']:>6}.{a['ProcId']:<3} {a['Owner'][:14]:<14} "
                  f"{view.stamp(a['QDate']):>11} {ran:>12} "
                  f"{view.ST_LETTER[a['JobStatus']]:<2} {done:<11} {cmd}")

    _print(q, ads, table)
    return 0


def q_main() -> None:
    frontend.run("condor_q", condor_q, error_prefix="")


def history_main() -> None:
    frontend.run("condor_history", condor_history, error_prefix="")
