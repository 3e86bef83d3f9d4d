"""An Interactive JDL (`JobType = "Interactive"`), as glite-wms-job-submit ran one:
the job's standard input, output and error attached to this terminal while it runs.

corral does it as `salloc` with `srun --pty` would: an allocation is asked for with
the JDL's size, requirements and sandboxes; once it runs, the JDL's executable starts
on its first node in a pseudo terminal, its output streamed here and what is typed
here sent to it; when it exits, the allocation is given back with its exit code.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from typing import Any

from corral.client import Client
from corral.compat.slurm.jobview import FINAL
from corral.compat.slurm.steprun import StepOptions, StepRun
from corral.lang.uploads import with_uploads
from corral.model.errors import CorralError

_NOT_FOR_AN_ALLOCATION = ("script", "argv", "stdout", "stderr")
END_WAIT_S = 10.0  # how long the command waits for its given-back allocation to end


def allocation_request(request: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The allocation's request, and the script its terminal runs."""
    req = dict(request)
    script = str(req["script"])
    for key in _NOT_FOR_AN_ALLOCATION:
        req.pop(key, None)
    req["interactive"] = True
    return req, script


def run(c: Client, request: Mapping[str, Any], *, prog: str,
        on_submitted: Any = None) -> int:
    """Allocate, run the executable attached here, give the allocation back; the
    executable's exit code (1 if the allocation ended before it started)."""
    req, script = allocation_request(with_uploads(c, [request])[0])
    job_id = c.submit(**req)
    if on_submitted is not None:
        on_submitted(job_id)
    job = c.job(job_id)
    try:
        while job["state"] != "RUNNING":
            if job["state"] in FINAL:
                print(f"{prog}: the interactive job {job_id} ended before it started "
                      f"({job['state']})", file=sys.stderr)
                return 1
            job = c.wait(job_id, timeout_s=0.5)
    except KeyboardInterrupt:
        c.end(job_id, 1)
        return 130
    env = {**req["environment"], "CORRAL_JOB_ID": str(job_id), "SLURM_JOB_ID": str(job_id)}
    opts = StepOptions(argv=["/bin/sh", "-c", script, "interactive"], name=str(req["name"]),
                       working_dir=str(req["working_dir"]), environment=env, ntasks=1,
                       nodes=1, pty=True, stdin="0")
    code = 1
    try:
        code = StepRun(c, job_id, opts, prog=prog).run()
    finally:
        c.end(job_id, max(0, min(255, code)))
    # the job's end as its status says it once this command returns: its agent's
    # report that the allocation is given back is on its way (waited for, briefly)
    with contextlib.suppress(CorralError):
        c.wait(job_id, timeout_s=END_WAIT_S)
    return code
