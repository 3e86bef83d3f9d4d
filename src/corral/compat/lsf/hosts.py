"""bqueues and bhosts: corral's partitions and nodes as LSF lists queues and hosts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from corral.compat import frontend
from corral.compat.lsf import view

QUEUES = ("QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP")
HOSTS = ("HOST_NAME          STATUS       JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV")


def _names(argv: list[str], prog: str) -> list[str]:
    names = []
    for a in argv:
        if a in ("-h", "-help", "--help"):
            print(f"usage: {prog} [-w] [name ...]")
            raise frontend.Exit(0)
        if a in ("-w", "-l", "-m", "-u", "-r", "-alloc"):
            continue
        if a.startswith("-"):
            frontend.fail(f"{a}: Illegal option", 255)
        names.append(a)
    return names


def bqueues(argv: list[str]) -> int:
    names = _names(argv, "bqueues")
    with frontend.client() as c:
        parts = c.partitions()
        jobs = c.jobs(user=None, expand_arrays=True)
    known = {p["name"] for p in parts}
    for n in names:
        if n not in known:
            frontend.fail(f"{n}: No such queue", 255)
    slots: dict[str, Counter[str]] = {p["name"]: Counter() for p in parts}
    for j in jobs:
        st = view.state(j)
        kind = "PEND" if st in ("PEND", "PSUSP") else "RUN" if st == "RUN" else "SUSP"
        if j["partition"] in slots and st in view.UNFINISHED:
            slots[j["partition"]][kind] += int(j["cpus"])
    print(QUEUES)
    for p in parts:
        if names and p["name"] not in names:
            continue
        counts = slots[p["name"]]
        total = counts["PEND"] + counts["RUN"] + counts["SUSP"]
        print(f"{p['name'][:15]:<15} {p['priority_tier']:>4}  {'Open:Active':<15} "
              f"{p['cpus'] or '-':>4} {'-':>4} {'-':>4} {'-':>4} {total:>5} {counts['PEND']:>5} "
              f"{counts['RUN']:>5} {counts['SUSP']:>5}")
    return 0


def _host_status(n: dict[str, Any]) -> str:
    if n["state"] in ("DOWN", "UNKNOWN"):
        return "unavail"
    if n["state"] in ("DRAINED", "DRAINING", "DRAIN"):
        return "closed_Adm"
    if n["cpus_used"] >= n["cpus"]:
        return "closed_Full"
    return "ok"


def bhosts(argv: list[str]) -> int:
    names = _names(argv, "bhosts")
    with frontend.client() as c:
        nodes = c.nodes()
    known = {n["name"] for n in nodes}
    for name in names:
        if name not in known:
            frontend.fail(f"{name}: Bad host name, host group name or cluster name", 255)
    print(HOSTS)
    for n in nodes:
        if names and n["name"] not in names:
            continue
        used = int(n["cpus_used"])
        print(f"{n['name'][:18]:<18} {_host_status(n):<12} {'-':>4} {n['cpus']:>6} "
              f"{used:>6} {used:>6} {0:>6} {0:>6} {0:>6}")
    return 0


def bqueues_main() -> None:
    frontend.run("bqueues", bqueues, error_prefix="")


def bhosts_main() -> None:
    frontend.run("bhosts", bhosts, error_prefix="")
