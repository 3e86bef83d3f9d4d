"""srun: run a command as a job and stream its output here; inside a corral job,
run the command's tasks right here (the job's allocation is this node)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from corral.compat import frontend
from corral.compat.options import NONE, OPTIONAL, Opt, collect, parse
from corral.compat.slurm import stepsignal
from corral.compat.slurm.jobview import FINAL
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.compat.slurm.submitopts import TABLE, build_request

PROG = "srun"


STEP_OPTIONS = [
    Opt("unbuffered", "ignored", NONE, "u"), Opt("label", "ignored", NONE, "l"),
    Opt("kill-on-bad-exit", "ignored", OPTIONAL, "K"), Opt("cpu-bind", "ignored"),
    Opt("mpi", "ignored"), Opt("exact", "ignored", NONE), Opt("overlap", "ignored", NONE),
    Opt("pty", "ignored", NONE), Opt("multi-prog", "ignored", NONE),
]


def _task_path(pattern: str | None, rank: int) -> str | None:
    if not pattern:
        return None
    env = os.environ
    keys = {"j": env.get("SLURM_JOB_ID", ""), "J": env.get("SLURM_JOB_ID", ""),
            "A": env.get("SLURM_ARRAY_JOB_ID") or env.get("SLURM_JOB_ID", ""),
            "a": env.get("SLURM_ARRAY_TASK_ID", "0"), "x": env.get("SLURM_JOB_NAME", ""),
            "t": str(rank), "n": "0", "N": env.get("SLURMD_NODENAME", ""), "s": "0",
            "u": env.get("USER", ""), "%": "%"}
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "%" and i + 1 < len(pattern) and pattern[i + 1] in keys:
            out.append(keys[pattern[i + 1]])
            i += 2
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)


def _in_job(cmd: list[str], o: dict[str, Any]) -> int:
    """A step inside the job's own allocation (this node): the tasks run here."""
    ntasks = int(o.get("ntasks") or 1)
    procs = []
    files = []
    restore = stepsignal.restored(os.environ.get(stepsignal.ENV))

    def _restore() -> None:
        stepsignal.reset_handlers(restore)

    for rank in range(ntasks):
        env = dict(os.environ, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank),
                   SLURM_NODEID="0", SLURM_STEP_ID="0", SLURM_STEP_NUM_TASKS=str(ntasks),
                   SLURM_STEP_NUM_NODES="1", SLURM_NTASKS=str(ntasks))
        env.setdefault("SLURM_NNODES", "1")
        env.setdefault("SLURM_JOB_NUM_NODES", "1")
        out_path, err_path = _task_path(o.get("output"), rank), _task_path(o.get("error"), rank)
        out = open(out_path, "ab") if out_path else None  # noqa: SIM115
        err = open(err_path, "ab") if err_path else None  # noqa: SIM115
        files += [f for f in (out, err) if f]
        procs.append(subprocess.Popen(cmd, env=env, stdout=out, stderr=err,
                                      preexec_fn=_restore if restore else None))  # noqa: PLW1509 (one thread)
    code = max(p.wait() for p in procs)
    for f in files:
        f.close()
    return code


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
    found, cmd = parse(argv, TABLE + STEP_OPTIONS)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if not cmd:
        frontend.fail("No command given to execute.")
    if os.environ.get("CORRAL_JOB_ID") and os.environ.get("SLURM_JOB_ID"):
        return _in_job(cmd, o)
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
