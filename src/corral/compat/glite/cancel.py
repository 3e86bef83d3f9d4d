"""glite-wms-job-cancel [--noint] [-i FILE] JOB_ID...: cancel jobs (asks first unless
--noint)."""

from __future__ import annotations

import sys

from corral.compat import frontend
from corral.compat.glite.common import RULE, banner, job_uri
from corral.compat.glite.status import job_ids
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.model.errors import Conflict, NotFound

PROG = "glite-wms-job-cancel"
OPTS = [
    Opt("input", "input", REQUIRED, "i"), Opt("noint", "noint", NONE),
    Opt("config", "config", REQUIRED, "c"), Opt("vo", "vo", REQUIRED),
    Opt("output", "output", REQUIRED, "o"), Opt("debug", "debug", NONE),
    Opt("logfile", "logfile", REQUIRED), Opt("help", "help", NONE),
]
_FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL",
          "PREEMPTED"}


def body(argv: list[str]) -> int:
    o, ids = job_ids(argv, OPTS)
    if "help" in o:
        print(f"Usage: {PROG} [--noint] [-i FILE] <job Id(s)>")
        return 0
    if "noint" not in collect(parse(argv, OPTS, interspersed=True)[0]):
        answer = input("Are you sure you want to remove specified job(s) [y/n]y : ") \
            if sys.stdin.isatty() else "y"
        if answer.strip().lower() not in ("", "y", "yes"):
            print("bye")
            return 0
    done: list[str] = []
    code = 0
    with frontend.client() as c:
        for job_id in ids:
            uri = job_uri(job_id)
            try:
                if c.job(job_id)["state"] in _FINAL:
                    raise Conflict("the job has already ended")
                c.cancel(job_id)
            except (NotFound, Conflict) as e:
                # an unknown job says so as the other commands do
                why = "no such job" if isinstance(e, NotFound) else str(e)
                print(f"Error - Operation Failed\nUnable to cancel the job: {uri}\n{why}",
                      file=sys.stderr)
                code = 1
                continue
            done.append(uri)
    if done:
        print(f"\n\n{banner(PROG)}\n")
        print("The cancellation request has been successfully submitted for the following "
              "job(s):\n")
        print("\n".join(f"- {u}" for u in done))
        print(f"\n{RULE}\n")
    return code


def main() -> None:
    frontend.run(PROG, body, sys.argv[1:], error_prefix="")
