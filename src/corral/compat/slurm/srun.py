"""srun: run a command as a job and stream its output here; inside a corral job,
run the command's tasks right here (the job's allocation is this node)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from corral.compat import frontend
from corral.compat.options import collect, parse
from corral.compat.slurm.jobview import FINAL
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.compat.slurm.submitopts import TABLE, build_request

PROG = "srun"


def _in_job(cmd: list[str], ntasks: int) -> int:
    procs = []
    for rank in range(ntasks):
        env = dict(os.environ, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank),
                   SLURM_STEP_NUM_TASKS=str(ntasks))
        procs.append(subprocess.Popen(cmd, env=env))
    return max(p.wait() for p in procs)


def _follow(path: Path, pos: int) -> int:
    try:
        with path.open("rb") as f:
            f.seek(pos)
            data = f.read()
    except FileNotFoundError:
        return pos
    if data:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return pos + len(data)


def srun(argv: list[str]) -> int:
    found, cmd = parse(argv, TABLE)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if not cmd:
        frontend.fail("No command given to execute.")
    if os.environ.get("CORRAL_JOB_ID") and os.environ.get("SLURM_JOB_ID"):
        return _in_job(cmd, int(o.get("ntasks") or 1))
    out = Path.cwd() / f".srun-{os.getpid()}-%j.out"
    script = f"#!/bin/sh\nexec {shlex.join(cmd)}\n"
    req = build_request(o, script=script, args=[], default_name=Path(cmd[0]).name)
    req["stdout"] = str(out)
    req.pop("stderr", None)
    with frontend.client() as c:
        job_id = c.submit(**req)
        path = Path(str(out).replace("%j", str(job_id)))
        pos = 0
        try:
            while True:
                job = c.wait(job_id, timeout_s=0.5)
                pos = _follow(path, pos)
                if job["state"] in FINAL:
                    break
                time.sleep(0.1)
        except KeyboardInterrupt:
            c.cancel(job_id)
            print(f"srun: Job step aborted: job {job_id} cancelled", file=sys.stderr)
            return 130
        _follow(path, pos)
    path.unlink(missing_ok=True)
    if job["state"] != "COMPLETED":
        print(f"srun: error: {job.get('node_list', ['?'])[0] if job.get('node_list') else '?'}"
              f": task 0: Exited with exit code {job.get('exit_code')}", file=sys.stderr)
        code = job.get("exit_code")
        return int(code) if isinstance(code, int) and code > 0 else 1
    return 0


def main() -> None:
    frontend.run(PROG, srun)


if __name__ == "__main__":
    main()
