"""srun: run a parallel step. Inside a job (or salloc) the step's tasks start on the
job's nodes through their agents; outside, srun first gets an allocation, runs the
step in it and gives it back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from corral.compat import frontend
from corral.compat.options import NONE, OPTIONAL, REQUIRED, Opt, collect, parse
from corral.compat.slurm import allocation, multiprog
from corral.compat.slurm.pmi import MPI_TYPES
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.compat.slurm.steprun import StepOptions, StepRun
from corral.compat.slurm.submitopts import TABLE, environment
from corral.model import hostlist
from corral.model.errors import InvalidRequest
from corral.model.jobid import parse_job_id

PROG = "srun"

STEP_OPTIONS = [
    Opt("label", "label", NONE, "l"), Opt("input", "input", REQUIRED, "i"),
    Opt("overcommit", "overcommit", NONE, "O"), Opt("jobid", "jobid", REQUIRED),
    Opt("unbuffered", "ignored", NONE, "u"),
    Opt("kill-on-bad-exit", "ignored", OPTIONAL, "K"), Opt("cpu-bind", "cpu_bind"),
    Opt("mpi", "mpi"), Opt("exact", "ignored", NONE), Opt("overlap", "ignored", NONE),
    Opt("pty", "pty", NONE), Opt("multi-prog", "multi_prog", NONE),
    Opt("wait", "ignored", REQUIRED, "W"), Opt("quit-on-interrupt", "ignored", NONE, "q"),
    Opt("nodelist", "nodelist", REQUIRED, "w"), Opt("distribution", "distribution", REQUIRED, "m"),
]
_STEP_NAMES = {o.long for o in STEP_OPTIONS} | {o.short for o in STEP_OPTIONS if o.short}
SRUN_TABLE = [o for o in TABLE if o.long not in _STEP_NAMES and o.short not in _STEP_NAMES
              ] + STEP_OPTIONS


def _count(o: dict[str, Any], key: str, env: str | None = None) -> int | None:
    """The option's count, else (inside a job) the job's variable `env`, else None."""
    text = o.get(key) or (os.environ.get(env) if env else None)
    if not text:
        return None
    try:
        n = int(str(text).split("-")[0])
    except ValueError:
        frontend.fail(f"Invalid --{key.replace('_', '-')} specification: {text}")
    if n < 1:
        frontend.fail(f"Invalid --{key.replace('_', '-')} specification: {text}")
    return n


def _input_mode(text: str | None) -> str:
    if text is None:
        return "0"
    t = text.strip().lower()
    if t in ("all", "none"):
        return t
    if t.isdigit():
        return t
    frontend.fail(f"Invalid --input specification: {text} (corral takes all, none or "
                  "a task number)")


def _distribution(text: str | None) -> str:
    if not text:
        return "block"
    first = text.split(":")[0].split(",")[0].strip().lower()
    if first in ("block", "cyclic", "*"):
        return "block" if first == "*" else first
    frontend.fail(f"Invalid --distribution specification: {text} (corral takes block or "
                  "cyclic)")


def step_options(o: dict[str, Any], cmd: list[str], *, inside: bool) -> StepOptions:
    ntasks = _count(o, "ntasks", "SLURM_NTASKS" if inside and not o.get("nodes")
                    and not o.get("ntasks_per_node") else None)
    nodes = _count(o, "nodes")
    per_node = _count(o, "ntasks_per_node")
    if per_node:  # as Slurm: --ntasks-per-node with -n spreads them over enough nodes
        if nodes is None and ntasks is not None:
            nodes = -(-ntasks // per_node)
        elif nodes is None and inside:
            nodes = _count({}, "nodes", "SLURM_JOB_NUM_NODES")  # every node of the job
        if nodes is not None and not o.get("ntasks"):
            ntasks = per_node * nodes
    cpt = _count(o, "cpus_per_task", "SLURM_CPUS_PER_TASK" if inside else None) or 1
    name = o.get("job_name") or Path(cmd[0]).name
    if "multi_prog" in o:
        cmd = _multi_prog(cmd, ntasks)
    return StepOptions(
        argv=cmd, name=name,
        working_dir=os.path.abspath(o.get("chdir") or os.getcwd()),
        environment=environment(o.get("export")), ntasks=ntasks, nodes=nodes,
        cpus_per_task=cpt, overcommit="overcommit" in o, label="label" in o,
        stdout=o.get("output"), stderr=o.get("error"),
        stdin="0" if "pty" in o else _input_mode(o.get("input")),
        nodelist=_nodelist(o.get("nodelist")) if inside else None,
        distribution=_distribution(o.get("distribution")), pty="pty" in o,
        mpi=_mpi(o.get("mpi")))


def _mpi(text: str | None) -> str:
    """--mpi (else SLURM_MPI_TYPE, else pmi2): whether the step gets a PMI server."""
    kind = (text or os.environ.get("SLURM_MPI_TYPE") or "pmi2").strip().lower()
    if kind == "pmi":
        kind = "pmi1"
    if kind not in MPI_TYPES:
        frontend.fail(f"Invalid --mpi type: {text or kind} (corral serves "
                      f"{', '.join(MPI_TYPES)}; --mpi=list shows them)")
    return kind


def _multi_prog(cmd: list[str], ntasks: int | None) -> list[str]:
    """--multi-prog FILE: the step's command becomes the per-task program of FILE."""
    if len(cmd) != 1:
        frontend.fail(f"--multi-prog takes one argument, the config file (got {len(cmd)})")
    path = cmd[0]
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        frontend.fail(f"--multi-prog: cannot read {path}: "
                      f"{getattr(exc, 'strerror', None) or exc}")
    try:
        lines = multiprog.parse(text, path)
        if ntasks is not None:
            multiprog.check_covers(lines, ntasks, path)
    except multiprog.MultiProgError as exc:
        frontend.fail(str(exc))
    return ["/bin/sh", "-c", multiprog.shell_program(lines, path), "multi-prog"]


def _nodelist(text: str | None) -> list[str] | None:
    if not text:
        return None
    try:
        return hostlist.expand(text)
    except ValueError:
        frontend.fail(f"Invalid node name specified: {text}")


def srun(argv: list[str]) -> int:
    found, cmd = parse(argv, SRUN_TABLE)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if str(o.get("mpi", "")).strip().lower() == "list":
        print("MPI plugin types are...\n" + "".join(f"\t{t}\n" for t in MPI_TYPES), end="")
        return 0
    if not cmd:
        frontend.fail("No command given to execute.")
    job_id = o.get("jobid") or os.environ.get("SLURM_JOB_ID") or os.environ.get("CORRAL_JOB_ID")
    with frontend.client() as c:
        if job_id:
            try:
                inside = parse_job_id(str(job_id))
            except InvalidRequest:
                frontend.fail(f"Invalid job id specified: {job_id}")
            return StepRun(c, inside, step_options(o, cmd, inside=True)).run()
        opts = step_options(o, cmd, inside=False)  # bad input: refused before allocating
        job, env = allocation.allocate(c, o, prog=PROG, default_name=opts.name,
                                       verbose=False)
        opts.environment = {**opts.environment, **env}
        code = 1
        try:
            code = StepRun(c, int(job["id"]), opts).run()
        finally:
            allocation.release(c, int(job["id"]), code, prog=PROG, verbose=False)
        return code


def main() -> None:
    frontend.run(PROG, srun)


if __name__ == "__main__":
    main()
