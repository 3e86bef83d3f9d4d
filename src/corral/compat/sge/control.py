"""qdel, qhold, qrls: act on jobs by number (`N`, `N.T`, `N.T1-T2`) or on a user's jobs."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from corral.compat import frontend
from corral.compat.sge import view
from corral.model.errors import Conflict, CorralError
from corral.model.states import FINAL_JOB_STATES

_FINAL = frozenset(str(s) for s in FINAL_JOB_STATES)


def act(prog: str, argv: list[str], do: Callable[[Any, dict[str, Any]], str]) -> int:
    users: list[str] | None = None
    words: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "-u" and i + 1 < len(argv):
            users = argv[i + 1].split(",")
            i += 2
            continue
        if argv[i] in ("-f", "-h", "-hu", "-ho", "-hs"):
            i += 1
            continue
        words.append(argv[i])
        i += 1
    me = frontend.me()
    code = 0
    with frontend.client() as c:
        if users is not None:
            targets: list[tuple[str, list[dict[str, Any]]]] = [
                (str(j["id"]), [j]) for j in c.jobs(user=users, expand_arrays=True)
                if j["state"] not in _FINAL]
        elif words:  # a finished job has left Grid Engine's queue: it does not exist
            targets = [(spec, [j for j in view.jobs_for(c, spec) if j["state"] not in _FINAL])
                       for spec in view.parse_ids(words, prog)]
        else:
            frontend.fail(f"usage: {prog} [-u user_list] job_task_list", 1)
        for spec, jobs in targets:
            if not jobs:
                print(f'denied: job "{spec}" does not exist', file=sys.stderr)
                code = 1
            for j in jobs:
                try:
                    print(do(c, j).format(me=me, id=spec))
                except Conflict as e:
                    print(f"{me} - {prog}: job {spec}: {e}", file=sys.stderr)
                    code = 1 if prog != "qdel" else code
                except CorralError as e:
                    if e.code == "unavailable":
                        raise
                    print(f'denied: job "{spec}": {e}', file=sys.stderr)
                    code = 1
    return code


def _delete(c: Any, j: dict[str, Any]) -> str:
    c.cancel(j["id"])
    if j["state"] in ("RUNNING", "COMPLETING", "SUSPENDED"):
        return "{me} has registered the job {id} for deletion"
    return "{me} has deleted job {id}"


def _hold(c: Any, j: dict[str, Any]) -> str:
    c.hold(j["id"])
    return "modified hold of job {id}"


def _release(c: Any, j: dict[str, Any]) -> str:
    c.release(j["id"])
    return "modified hold of job {id}"


def qdel_main() -> None:
    frontend.run("qdel", lambda argv: act("qdel", argv, _delete), error_prefix="")


def qhold_main() -> None:
    frontend.run("qhold", lambda argv: act("qhold", argv, _hold), error_prefix="")


def qrls_main() -> None:
    frontend.run("qrls", lambda argv: act("qrls", argv, _release), error_prefix="")
