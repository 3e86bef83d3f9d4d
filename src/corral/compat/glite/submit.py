"""glite-wms-job-submit [options] JDL_FILE: the JDL's jobs (corral.lang.jdl), all or
none; prints their identifiers (one per job of a Parametric or Collection JDL)."""

from __future__ import annotations

import os
import sys
from typing import Any

from corral.compat import frontend
from corral.compat.glite import interactive
from corral.compat.glite.common import RULE, banner, job_uri, write_id_file
from corral.compat.options import NONE, REQUIRED, Opt, OptionError, collect, parse
from corral.lang.jdl import jdl_jobs  # HTCondor's ClassAd library (site-packages)
from corral.lang.submitting import submit_all
from corral.model.errors import InvalidRequest

PROG = "glite-wms-job-submit"
OPTS = [
    Opt("autm-delegation", "autm", NONE, "a"), Opt("delegationid", "deleg", REQUIRED, "d"),
    Opt("output", "output", REQUIRED, "o"), Opt("config", "config", REQUIRED, "c"),
    Opt("endpoint", "endpoint", REQUIRED, "e"), Opt("vo", "vo", REQUIRED),
    Opt("resource", "resource", REQUIRED, "r"), Opt("nomsg", "nomsg", NONE),
    Opt("noint", "noint", NONE), Opt("debug", "debug", NONE),
    Opt("logfile", "logfile", REQUIRED), Opt("help", "help", NONE),
    Opt("nogui", "nogui", NONE), Opt("nolisten", "nolisten", NONE),
]


def body(argv: list[str]) -> int:
    found, operands = parse(argv, OPTS, interspersed=True)
    o = collect(found)
    if "help" in o:
        print(f"Usage: {PROG} [options] <jdl file>\n  -a  automatic delegation\n"
              "  -o FILE  append the job identifiers to FILE\n  --nomsg  print only them")
        return 0
    if len(operands) != 1:
        raise OptionError("give one JDL file")
    if "autm" not in o and "deleg" not in o:
        raise OptionError("give -a (automatic delegation) or -d DELEGATION_ID")
    if "resource" in o:
        frontend.warn(PROG, "--resource is ignored: the requirements choose the node")
    path = operands[0]
    try:
        with open(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        frontend.fail(f"Error - Input File Error\n{path}: {getattr(e, 'strerror', e)}")
    try:
        jobs = jdl_jobs(text, source=path, cwd=os.getcwd(), environ=os.environ)
    except InvalidRequest as e:
        frontend.fail(f"Error - Invalid JDL\n{e}")
    if jobs.job_type == "Interactive":
        return _interactive(jobs.requests[0], o)
    with frontend.client() as c:
        try:
            ids = submit_all(c, jobs.requests)
        except InvalidRequest as e:
            frontend.fail(f"Error - Operation Failed\n{e}")
    uris = [job_uri(i) for i in ids]
    if "output" in o:
        write_id_file(o["output"], uris)
    if "nomsg" in o:
        print("\n".join(uris))
        return 0
    o.get("endpoint") or "corral"
    _said(o, uris, jobs.job_type)
    return 0


def _said(o: dict[str, str], uris: list[str], job_type: str) -> None:
    endpoint = o.get("endpoint") or "corral"
    print(f"\nConnecting to the service {endpoint}\n\n")
    print(banner(PROG))
    print("\nThe job has been successfully submitted to the WMProxy")
    if len(uris) == 1:
        print("Your job identifier is:\n")
    else:
        print(f"Your {job_type} job has {len(uris)} nodes; their identifiers are:\n")
    print("\n".join(uris))
    if "output" in o:
        print(f"\nThe job identifier has been saved in the following file:\n{o['output']}")
    print(f"\n{RULE}\n", flush=True)


def _interactive(request: dict[str, Any], o: dict[str, str]) -> int:
    """An Interactive JDL: submitted, then attached to this terminal until it ends;
    the exit status is the job's."""
    if "nolisten" in o:
        frontend.fail("Error - Operation Failed\n--nolisten: corral attaches an "
                      "interactive job to this terminal only (there is no listener to "
                      "leave to another program)")

    def submitted(job_id: int) -> None:
        uri = job_uri(job_id)
        if "output" in o:
            write_id_file(o["output"], [uri])
        if "nomsg" in o:
            print(uri, flush=True)
        else:
            _said(o, [uri], "Interactive")

    with frontend.client() as c:
        try:
            return interactive.run(c, request, prog=PROG, on_submitted=submitted)
        except InvalidRequest as e:
            frontend.fail(f"Error - Operation Failed\n{e}")


def main() -> None:
    frontend.run(PROG, body, sys.argv[1:], error_prefix="")
