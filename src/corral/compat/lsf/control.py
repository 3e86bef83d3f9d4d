"""bkill: cancel or signal jobs by id (`N`, `N[i]`, 0: all of one's jobs), name or queue."""

from __future__ import annotations

import signal as signals
import sys
from typing import Any

from corral.compat import frontend
from corral.compat.lsf import view
from corral.model.errors import Conflict, CorralError

PROG = "bkill"


def _signal(text: str) -> int:
    name = text.upper()
    if name.isdigit() and 1 <= int(name) <= 64:
        return int(name)
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signals.Signals[name])
    except KeyError:
        frontend.fail(f"{text}: Illegal signal value", 255)


def bkill(argv: list[str]) -> int:
    values, _, operands = view.split_options(
        argv, {"-s", "-u", "-q", "-J", "-m", "-g", "-sla", "-app", "-C", "-l"},
        {"-r", "-d", "-b", "-stat", "-ar"},
        "usage: bkill [-s signal] [-u user|all] [-q queue] [-J name] [job_ID ... | 0]")
    sig = _signal(values["-s"]) if "-s" in values else None
    users = view.users_of(values)
    queue, job_name = values.get("-q"), values.get("-J")
    every = any(a.strip() == "0" for a in operands)
    refs = [view.parse_ref(a, PROG) for a in operands if a.strip() != "0"]
    if not refs and not every and queue is None and job_name is None:
        frontend.fail("Job ID or one of '-m', '-u' '-q', '-J' and '-g' must be specified",
                      255)
    code = 0
    with frontend.client() as c:
        targets: list[tuple[str, list[dict[str, Any]]]] = []
        if refs:
            for ref in refs:
                shown = f"{ref[0]}[{ref[1]}]" if ref[1] is not None else str(ref[0])
                targets.append((shown, view.jobs_for(c, ref)))
        else:
            filters: dict[str, Any] = {"user": users}
            if queue:
                filters["partition"] = [queue]
            if job_name:
                filters["name"] = [job_name]
            mine = [j for j in c.jobs(expand_arrays=True, **filters)
                    if view.state(j) in view.UNFINISHED]
            if not mine:
                print("No unfinished job found", file=sys.stderr)
                return 255
            targets = [(view.full_id(j), [j]) for j in mine]
        for shown, jobs in targets:
            if not jobs:
                print(f"Job <{shown}>: No matching job found", file=sys.stderr)
                code = 255
                continue
            live = [j for j in jobs if view.state(j) in view.UNFINISHED]
            if not live:
                print(f"Job <{shown}>: Job has already finished", file=sys.stderr)
                code = 255
                continue
            try:
                for j in live:
                    c.cancel(j["id"], signal=sig)
            except Conflict as e:
                print(f"Job <{shown}>: {e}", file=sys.stderr)
                code = 255
                continue
            except CorralError as e:
                if e.code == "unavailable":
                    raise
                print(f"Job <{shown}>: {e}", file=sys.stderr)
                code = 255
                continue
            print(f"Job <{shown}> is being {'signaled' if sig else 'terminated'}")
    return code


def main() -> None:
    frontend.run(PROG, bkill, error_prefix="")


if __name__ == "__main__":
    main()
