"""condor_submit: a submit description file into one cluster of corral jobs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from corral.compat import frontend
from corral.compat.condor import build, submitfile
from corral.model.errors import CorralError, InvalidRequest

PROG = "condor_submit"
USAGE = ("Usage: condor_submit [-terse] [-batch-name NAME] [-append COMMAND] "
         "[-queue QUEUE_ARGS] [NAME=VALUE ...] [FILE|-]")


def condor_submit(argv: list[str]) -> int:
    terse = False
    batch: str | None = None
    appends: list[str] = []
    queue: str | None = None
    extra: dict[str, str] = {}
    files: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        low = a.lower()
        takes = low in ("-batch-name", "-batch_name", "-append", "-a", "-queue", "-q",
                        "-name", "-pool", "-remote", "-addr", "-dry-run", "-maxjobs",
                        "-spool-dir", "-batch-id")
        if takes and i + 1 >= len(argv):
            frontend.fail(f"ERROR: {a} requires another argument", 1)
        if low == "-terse":
            terse = True
        elif low in ("-batch-name", "-batch_name"):
            batch = argv[i + 1]
        elif low in ("-append", "-a"):
            appends.append(argv[i + 1])
        elif low in ("-queue", "-q"):
            queue = argv[i + 1]
        elif low in ("-help", "-h", "--help"):
            print(USAGE)
            return 0
        elif takes:
            pass  # schedd and pool choices: corral has one queue
        elif low in ("-verbose", "-v", "-disable", "-debug", "-unused", "-interactive",
                     "-spool", "-allow-crlf-script"):
            if low == "-interactive":
                frontend.fail("ERROR: interactive jobs are not run by condor_submit in "
                              "corral; use srun --pty or salloc", 1)
        elif a.startswith("-") and a != "-":
            frontend.fail(f"ERROR: Unknown option {a}\n{USAGE}", 1)
        elif "=" in a and not os.path.exists(a):
            key, _, value = a.partition("=")
            extra[key.strip()] = value.strip()
        else:
            files.append(a)
        i += 2 if takes else 1
    if len(files) > 1:
        frontend.fail("ERROR: only one submit description file may be given", 1)
    source = files[0] if files else "-"
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except (OSError, UnicodeDecodeError) as e:
        frontend.fail(f"ERROR: Failed to open command file ({getattr(e, 'strerror', e)})",
                      1)
    if appends:
        text += "\n" + "\n".join(appends) + "\n"
    cwd = os.getcwd()
    warn: list[str] = []
    try:
        procs = submitfile.read(text, Path(cwd), extra, queue)
        req = build.request(procs, cwd, batch, warn)
    except InvalidRequest as e:
        frontend.fail(f"ERROR: {e}", 1)
    for w in warn:
        print(f"WARNING: {w}", file=sys.stderr)
    if not terse:
        print("Submitting job(s)" + "." * len(procs), flush=True)
    try:
        with frontend.client() as c:
            ids = c.submit_many(**req)
            job = c.job(min(ids))
    except CorralError as e:
        if e.code == "unavailable":
            raise
        frontend.fail(f"ERROR: Failed to queue job: {e}", 1)
    cluster = job.get("array_job_id") or job["id"]
    n = len(procs)
    if terse:
        print(f"{cluster}.0 - {cluster}.{n - 1}")
    else:
        print(f"{n} job(s) submitted to cluster {cluster}.")
    return 0


def main() -> None:
    frontend.run(PROG, condor_submit, error_prefix="")


if __name__ == "__main__":
    main()
