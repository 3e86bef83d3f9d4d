"""condor_status: corral's nodes as HTCondor lists its machines (one slot each)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from corral.compat import frontend
from corral.compat.condor import view


def machine_ad(n: dict[str, Any]) -> dict[str, Any]:
    busy = n["cpus_used"] > 0
    state = "Owner" if n["state"] in ("DRAINED", "DRAINING", "DOWN") else \
        "Claimed" if busy else "Unclaimed"
    return {
        "Name": f"slot1@{n['name']}", "Machine": n["name"], "OpSys": "LINUX",
        "Arch": "X86_64", "State": state,
        "Activity": "Busy" if busy else "Idle", "LoadAvg": round(
            n["cpus_used"] / max(1, n["cpus"]), 3),
        "Memory": n["mem_mb"], "Cpus": n["cpus"], "Gpus": n["gpus"],
        "TotalCpus": n["cpus"], "TotalMemory": n["mem_mb"],
        "ChildCpus": n["cpus_used"], "Features": ",".join(n["features"]),
        "PartitionableSlot": True, "SlotType": "Partitionable",
        "EnteredCurrentActivity": int(n.get("t_last_seen") or time.time()),
    }


def condor_status(argv: list[str]) -> int:
    af: tuple[str, list[str]] | None = None
    long = totals_only = False
    names: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.lower().startswith(("-af", "-autoformat")):
            af, i = view.take_af(argv, i)
            continue
        if a in ("-long", "-l"):
            long = True
        elif a in ("-total", "-totals"):
            totals_only = True
        elif a in ("-compact", "-wide", "-w", "-server", "-state"):
            pass
        elif a in ("-help", "-h", "--help"):
            print("Usage: condor_status [-af ATTR ...] [-long] [-total] [machine ...]")
            return 0
        elif a.startswith("-"):
            frontend.fail(f"Error: unknown argument {a}", 1)
        else:
            names.append(a)
        i += 1
    with frontend.client() as c:
        nodes = c.nodes()
    ads = [machine_ad(n) for n in nodes
           if not names or n["name"] in names or f"slot1@{n['name']}" in names]
    if af is not None:
        for line in view.autoformat(ads, af[1], af[0]):
            print(line)
        return 0
    if long:
        sys.stdout.write(view.long_form(ads))
        return 0
    if not totals_only:
        print("Name" + " " * 15 + "OpSys      Arch   State     Activity LoadAv Mem   "
              "ActvtyTime\n")
        for m in ads:
            print(f"{m['Name'][:18]:<18} {m['OpSys']:<10} {m['Arch']:<6} {m['State']:<9} "
                  f"{m['Activity']:<8} {m['LoadAvg']:6.3f} {m['Memory']:<5} 0+00:00:00")
        print()
    n = Counter(m["State"] for m in ads)
    head = ("Total Owner Claimed Unclaimed Matched Preempting  Drain Backfill BkIdle")
    print(" " * 15 + head + "\n")
    row = (f"{len(ads):>5} {n['Owner']:>5} {n['Claimed']:>7} {n['Unclaimed']:>9} "
           f"{0:>7} {0:>10} {0:>6} {0:>8} {0:>6}")
    print(f"  X86_64/LINUX {row}\n")
    print(f"         Total {row}")
    return 0


def main() -> None:
    frontend.run("condor_status", condor_status, error_prefix="")


if __name__ == "__main__":
    main()
