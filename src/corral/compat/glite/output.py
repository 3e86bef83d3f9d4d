"""glite-wms-job-output [--dir DIR] [--noint] [-i FILE] JOB_ID...: copy each ended
job's output sandbox (its OutputSandbox files, from its working directory) into
DIR/USER_ID; the job then shows as Cleared."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import classad2  # HTCondor's ClassAd library (site-packages)

from corral.compat import frontend
from corral.compat.glite.common import job_uri, mark_cleared
from corral.compat.glite.status import job_ids
from corral.compat.options import NONE, REQUIRED, Opt
from corral.model.errors import NotFound

PROG = "glite-wms-job-output"
OPTS = [
    Opt("dir", "dir", REQUIRED), Opt("input", "input", REQUIRED, "i"),
    Opt("noint", "noint", NONE), Opt("config", "config", REQUIRED, "c"),
    Opt("vo", "vo", REQUIRED), Opt("debug", "debug", NONE),
    Opt("logfile", "logfile", REQUIRED), Opt("help", "help", NONE),
]
LINE = "=" * 80
_ENDED = {"COMPLETED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "CANCELLED", "NODE_FAIL",
          "PREEMPTED"}


def sandbox_files(job: dict[str, Any]) -> list[str]:
    """The job's OutputSandbox entries, read from the JDL it was made from."""
    jdl = (job.get("spec") or {}).get("jdl")
    if not jdl:
        return []
    ad = classad2.ClassAd(jdl)
    if "OutputSandbox" not in ad:
        return []
    files = ad.eval("OutputSandbox")
    return [files] if isinstance(files, str) else [str(f) for f in files]


def body(argv: list[str]) -> int:
    o, ids = job_ids(argv, OPTS)
    if "help" in o:
        print(f"Usage: {PROG} [--dir DIR] [--noint] [-i FILE] <job Id(s)>")
        return 0
    base = os.path.abspath(o.get("dir") or os.path.join("/tmp", "jobOutput"))
    code = 0
    with frontend.client() as c:
        for job_id in ids:
            uri = job_uri(job_id)
            try:
                job = dict(c.job(job_id))
            except NotFound:
                print(f"Error - Unable to retrieve the output for: {uri}\nno such job",
                      file=sys.stderr)
                code = 1
                continue
            if job["state"] not in _ENDED:
                print(f"Error - Operation not allowed\nUnable to retrieve the output for: "
                      f"{uri}\nthe job has not ended ({job['state']})", file=sys.stderr)
                code = 1
                continue
            dest = os.path.join(base,
                                f"{job.get('user', frontend.me())}_{job_id}")
            missing = _copy(job, dest)
            mark_cleared(job)
            print(f"\n{LINE}\n\n{'JOB GET OUTPUT OUTCOME':^80}".rstrip() + "\n")
            print(f"Output sandbox files for the job:\n{uri}\nhave been successfully "
                  f"retrieved and stored in the directory:\n{dest}")
            if missing:
                print(f"\nNot found (not written by the job): {', '.join(missing)}")
            print(f"\n{LINE}\n")
    return code


def _copy(job: dict[str, Any], dest: str) -> list[str]:
    os.makedirs(dest, exist_ok=True)
    work = str(job.get("working_dir") or (job.get("spec") or {}).get("working_dir", "."))
    missing = []
    for name in sandbox_files(job):
        src = os.path.join(work, name)
        if os.path.isfile(src):
            shutil.copy2(src, os.path.join(dest, os.path.basename(name)))
        else:
            missing.append(name)
    return missing


def main() -> None:
    frontend.run(PROG, body, sys.argv[1:], error_prefix="")
