"""salloc: get an allocation, run a command (by default the user's shell) with the
allocation's environment, give the allocation back when it exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

from corral.compat import frontend
from corral.compat.options import NONE, Opt, collect, parse
from corral.compat.slurm import allocation
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.compat.slurm.submitopts import TABLE

PROG = "salloc"
SALLOC_TABLE = [o for o in TABLE if o.long not in ("wrap", "parsable", "array", "wait")] + [
    Opt("no-shell", "no_shell", NONE), Opt("immediate", "ignored", NONE, "I"),
    Opt("bell", "ignored", NONE), Opt("no-bell", "ignored", NONE),
]


def _command(cmd: list[str]) -> list[str]:
    if cmd:
        return cmd
    return [os.environ.get("SHELL") or "/bin/sh"]


def _run(cmd: list[str], env: dict[str, str], c: Any, job_id: int) -> int:
    """The command runs here; if the allocation ends first (time limit, scancel), it
    is told with SIGHUP, as Slurm does, then killed."""
    try:
        proc = subprocess.Popen(cmd, env=env)
    except OSError as e:
        frontend.warn(PROG, f"cannot run {cmd[0]}: {e.strerror}")
        return 127
    gone = False
    while True:
        try:
            return proc.wait(timeout=allocation.POLL_S)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:
            continue  # the command (sharing the terminal) gets it; salloc waits
        if not gone and not allocation.still_running(c, job_id):
            gone = True
            print(f"{PROG}: Job allocation {job_id} has been revoked.", file=sys.stderr,
                  flush=True)
            proc.send_signal(signal.SIGHUP)
            try:
                return proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()


def salloc(argv: list[str]) -> int:
    found, cmd = parse(argv, SALLOC_TABLE)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    with frontend.client() as c:
        job, env = allocation.allocate(c, o, prog=PROG, default_name="interactive")
        job_id = int(job["id"])
        nodes = ",".join(job.get("node_list") or [])
        print(f"{PROG}: Nodes {nodes} are ready for job", file=sys.stderr, flush=True)
        if "no_shell" in o:
            print(f"{PROG}: Job allocation {job_id} stays; end it with scancel {job_id}",
                  file=sys.stderr, flush=True)
            return 0
        code = 0
        try:
            code = _run(_command(cmd), env, c, job_id)
        finally:
            allocation.release(c, job_id, code, prog=PROG)
        return code


def main() -> None:
    frontend.run(PROG, salloc)


if __name__ == "__main__":
    main()
