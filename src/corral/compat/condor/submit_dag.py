"""condor_submit_dag: check a DAG file and submit its manager as a job."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from corral.compat import frontend
from corral.compat.condor import dagman
from corral.lang.dagjob import manager_request
from corral.model.errors import CorralError

PROG = "condor_submit_dag"


def submit(path: Path, rescue: bool = True) -> int:
    """Check the DAG (it must read without error), then submit its manager."""
    dag = dagman.load(path, use_rescue=rescue)
    for w in dag.warnings:
        print(f"WARNING: {w}", file=sys.stderr)
    env = os.environ if dag.jdl else None  # a JDL DAG's nodes get the submitter's
    with frontend.client() as c:
        ids = c.submit_many(**manager_request(path, rescue, env))
    return min(ids)


def condor_submit_dag(argv: list[str]) -> int:
    files: list[str] = []
    rescue = True
    i = 0
    while i < len(argv):
        a = argv[i]
        low = a.lower()
        if low in ("-autorescue",) and i + 1 < len(argv):
            rescue = argv[i + 1] not in ("0", "false", "False")
            i += 2
            continue
        if low in ("-f", "-force", "-no_submit", "-verbose", "-notification", "-batch-name",
                   "-maxjobs", "-maxidle", "-maxpre", "-maxpost", "-config", "-append"):
            if low == "-no_submit":
                frontend.fail(f"{PROG}: -no_submit is not supported by corral", 1)
            i += 2 if low not in ("-f", "-force", "-verbose") else 1
            continue
        if low in ("-help", "-h", "--help"):
            print(f"Usage: {PROG} [-AutoRescue 0|1] DAGFILE")
            return 0
        if a.startswith("-"):
            frontend.fail(f"ERROR: unknown option {a}", 1)
        files.append(a)
        i += 1
    if len(files) != 1:
        frontend.fail(f"Usage: {PROG} [-AutoRescue 0|1] DAGFILE", 1)
    path = Path(files[0]).resolve()
    try:
        cluster = submit(path, rescue)
    except CorralError as e:
        if e.code == "unavailable":
            raise
        frontend.fail(f"ERROR: {e}", 1)
    line = "-" * 71
    print(f"{line}\nLog of DAGMan debugging messages                 : "
          f"{path.name}.dagman.out\nStatus of the DAG's nodes                        : "
          f"{path.name}.status.json\n\nSubmitting job(s).\n"
          f"1 job(s) submitted to cluster {cluster}.\n{line}")
    return 0


def main() -> None:
    frontend.run(PROG, condor_submit_dag, error_prefix="")
