"""Getting and giving back an allocation (salloc, and srun outside a job)."""

from __future__ import annotations

import socket
import sys
from typing import Any

from corral.client import Client
from corral.compat import frontend
from corral.compat.slurm.jobview import FINAL
from corral.compat.slurm.submitopts import build_request
from corral.model import hostlist

POLL_S = 1.0  # how often salloc checks that its allocation still runs


def allocate(c: Client, o: dict[str, Any], *, prog: str, default_name: str,
             verbose: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
    """Submit an allocation with the job options in `o` and wait until it runs.

    Returns the running job and the environment a command in it sees (salloc's
    shell, srun's step); raises frontend.Exit if it ends before it starts.
    """
    req = build_request(o, script="", args=[], default_name=default_name)
    req.pop("script", None)
    req.pop("argv", None)
    req.pop("stdout", None)
    req.pop("stderr", None)
    req["interactive"] = True
    job_id = c.submit(**req)
    job = c.job(job_id)
    said_pending = False
    try:
        while job["state"] not in ("RUNNING",):
            if job["state"] in FINAL:
                frontend.fail(f"Job allocation {job_id} has been revoked.")
            if not said_pending:
                if verbose:
                    print(f"{prog}: Pending job allocation {job_id}", file=sys.stderr)
                print(f"{prog}: job {job_id} queued and waiting for resources",
                      file=sys.stderr)
                said_pending = True
            job = c.wait(job_id, timeout_s=0.5)
    except KeyboardInterrupt:
        c.end(job_id, 1)
        frontend.fail(f"Job allocation {job_id} has been revoked.", code=1)
    if said_pending:
        print(f"{prog}: job {job_id} has been allocated resources", file=sys.stderr)
    if verbose:
        print(f"{prog}: Granted job allocation {job_id}", file=sys.stderr)
    return job, _environment(job, req["environment"])


def _environment(job: dict[str, Any], submitted: dict[str, str]) -> dict[str, str]:
    env = dict(submitted)
    nodes = hostlist.compress(list(job.get("node_list") or []))
    job_id = str(job["id"])
    env.update(SLURM_JOB_ID=job_id, SLURM_JOBID=job_id, CORRAL_JOB_ID=job_id,
               SLURM_JOB_NAME=str(job.get("name", "")), SLURM_JOB_NODELIST=nodes,
               SLURM_NODELIST=nodes, SLURM_SUBMIT_HOST=socket.gethostname(),
               SLURM_JOB_PARTITION=str(job.get("partition", "")))
    for key in ("SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID", "CORRAL_NODENAME",
                "SLURMD_NODENAME"):
        env.pop(key, None)  # salloc's command runs where salloc does, not on a node
    return env


def release(c: Client, job_id: int, exit_code: int, *, prog: str,
            verbose: bool = True) -> None:
    if verbose:
        print(f"{prog}: Relinquishing job allocation {job_id}", file=sys.stderr)
    c.end(job_id, max(0, min(255, exit_code)))


def still_running(c: Client, job_id: int) -> bool:
    return str(c.job(job_id)["state"]) == "RUNNING"

