"""condor_rm, condor_hold, condor_release: by cluster, job id, owner, or -all."""

from __future__ import annotations

import sys
from typing import Any

from corral.compat import frontend
from corral.compat.condor import view
from corral.model.errors import Conflict, CorralError

# prog -> (what is done, as HTCondor words it for one job / for several)
WORDS = {"condor_rm": ("marked for removal", "have been marked for removal"),
         "condor_hold": ("held", "have been held"),
         "condor_release": ("released", "have been released")}


def _act(prog: str, c: Any, j: dict[str, Any]) -> None:
    if prog == "condor_rm":
        c.cancel(j["id"])
    elif prog == "condor_hold":
        if j["state"] in ("RUNNING", "COMPLETING", "SUSPENDED"):
            c.requeue(j["id"], hold=True)  # HTCondor stops a running job it holds
        else:
            c.hold(j["id"])
    else:
        c.release(j["id"])


def _eligible(prog: str, j: dict[str, Any]) -> bool:
    st = view.status(j)
    if prog == "condor_release":
        return st == 5
    if prog == "condor_hold":
        return st in (1, 2, 7)
    return st not in (3, 4)


def run(prog: str, argv: list[str]) -> int:
    every = False
    words: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-reason", "-name", "-pool", "-constraint", "-subcode", "-addr"):
            if a == "-constraint":
                frontend.fail(f"{prog}: -constraint is not supported by corral; give ids "
                              "or owners", 1)
            i += 2
            continue
        if a in ("-all", "-a"):
            every = True
        elif a in ("-forcex", "-f", "-debug"):
            pass
        elif a in ("-help", "-h", "--help"):
            print(f"Usage: {prog} [-all] [cluster | cluster.proc | user] ...")
            return 0
        elif a.startswith("-"):
            frontend.fail(f"{prog}: unknown option {a}", 1)
        else:
            words.append(a)
        i += 1
    ids, owners = view.parse_ids(words, prog)
    if not (ids or owners or every):
        frontend.fail(f"Usage: {prog} [-all] [cluster | cluster.proc | user] ...", 1)
    one, many = WORDS[prog]
    code = 0
    verb = prog.split("_")[1]
    with frontend.client() as c:
        jobs: list[dict[str, Any]] = list(c.jobs(user=None if every or ids else owners,
                                                 expand_arrays=True))
        # (jobs named, message when done, message when none could be)
        targets: list[tuple[list[dict[str, Any]], str, str]] = []
        for cluster, proc in ids:
            found = [j for j in jobs if view.cluster_proc(j)[0] == cluster
                     and (proc is None or view.cluster_proc(j)[1] == proc)]
            if proc is None:
                targets.append((found, f"All jobs in cluster {cluster} {many}",
                                f"Couldn't find/{verb} all jobs in cluster {cluster}"))
            else:
                targets.append((found, f"Job {cluster}.{proc} {one}",
                                f"Job {cluster}.{proc} not found"))
        for owner in owners:
            targets.append(([j for j in jobs if j["user"] == owner],
                            f'All jobs of user "{owner}" {many}',
                            f"Couldn't find/{verb} all of user {owner}'s job(s)"))
        if every:
            targets.append((jobs, f"All jobs {many}", f"Couldn't find/{verb} all jobs"))
        for found, said, failed in targets:
            todo = [j for j in found if _eligible(prog, j)]
            ok = bool(todo)
            for j in todo:
                try:
                    _act(prog, c, j)
                except Conflict:
                    ok = False
                except CorralError as e:
                    if e.code == "unavailable":
                        raise
                    print(f"{prog}: {e}", file=sys.stderr)
                    ok = False
            if ok:
                print(said)
            else:
                print(failed, file=sys.stderr)
                code = 1
    return code


def rm_main() -> None:
    frontend.run("condor_rm", lambda argv: run("condor_rm", argv), error_prefix="")


def hold_main() -> None:
    frontend.run("condor_hold", lambda argv: run("condor_hold", argv), error_prefix="")


def release_main() -> None:
    frontend.run("condor_release", lambda argv: run("condor_release", argv), error_prefix="")
