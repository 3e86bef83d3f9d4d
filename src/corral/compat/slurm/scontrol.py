"""scontrol: show job/node/partition/config/hostnames; hold, release, requeue, update."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
from typing import Any

from corral.compat import frontend, timefmt
from corral.compat.options import NONE, Opt, collect, parse
from corral.compat.slurm import scontrol_show as show
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.model import hostlist
from corral.model.arrays import MAX_ARRAY_TASKS
from corral.model.errors import CorralError, InvalidRequest, NotFound
from corral.model.jobid import parse_job_id, parse_job_ref, split_ids
from corral.model.units import parse_duration_s, parse_mem_mb

PROG = "scontrol"
TABLE = [
    Opt("oneliner", "oneliner", NONE, "o"), Opt("details", "details", NONE, "d"),
    Opt("quiet", "quiet", NONE, "Q"), Opt("verbose", "ignored", NONE, "v"),
    Opt("version", "version", NONE, "V"), Opt("json", "json", NONE),
    Opt("all", "ignored", NONE, "a"), Opt("help", "help", NONE, "h"),
]
INVALID_JOB = "slurm_load_jobs error: Invalid job id specified"


def _word(text: str, choices: list[str], what: str) -> str:
    low = text.lower()
    hits = [c for c in choices if c.startswith(low)]
    if low in choices:
        return low
    if len(hits) == 1:
        return hits[0]
    raise frontend.Exit(1, f"invalid {what} <{text}>" if not hits
                        else f"ambiguous {what} <{text}>")


def _jobs_for(c: Any, spec: str | None, missing: str = INVALID_JOB) -> list[dict[str, Any]]:
    if spec is None:
        return list(c.jobs())
    try:
        ref = parse_job_ref(spec)
    except InvalidRequest:
        raise frontend.Exit(1, missing) from None
    base = ref.job_id
    queue = [j for j in c.jobs(array=[str(base)], expand_arrays=True)
             if j.get("array_job_id") == base]
    if ref.tasks is not None:
        queue = [j for j in queue if j.get("array_task_id") in ref.tasks]
        if not queue:
            raise frontend.Exit(1, missing)
        return queue
    if queue:
        return queue
    try:
        return [c.job(base)]
    except NotFound:
        raise frontend.Exit(1, missing) from None


def _show(c: Any, args: list[str], o: dict[str, Any]) -> int:
    if not args:
        raise frontend.Exit(1, "too few arguments for keyword:show")
    what = _word(args[0], ["job", "jobid", "node", "nodes", "partition", "partitions",
                           "config", "hostnames", "hostlist", "hostlistsorted", "licenses",
                           "lic"], "entity")
    target = args[1] if len(args) > 1 else None
    one = "oneliner" in o
    if what == "hostnames":
        text = target or _env_nodelist()
        try:
            print("\n".join(hostlist.expand(text)))
        except ValueError:
            raise frontend.Exit(1, f"Invalid hostlist: {text}") from None
        return 0
    if what in ("hostlist", "hostlistsorted"):
        names = (target or "").split(",")
        print(hostlist.compress(sorted(names) if what == "hostlistsorted" else names))
        return 0
    if what == "config":
        st = c.status()
        print(f"Configuration data as of {timefmt.stamp(_now())}")
        for key, value in [("ClusterName", "corral"), ("SLURM_VERSION", SLURM_VERSION[6:]),
                           ("SchedulerType", f"sched/{st.get('policy')}"),
                           ("AccountingStorageType", "accounting_storage/corral"),
                           ("SlurmctldHost[0]", "localhost"),
                           # Slurm: task ids < MaxArraySize, so also that many tasks at
                           # most; tools size their array chunks by it. corral allows
                           # ids up to MAX_TASK_ID but MAX_ARRAY_TASKS tasks.
                           ("MaxArraySize", MAX_ARRAY_TASKS + 1),
                           # how long finished jobs stay in squeue (controller.keep_finished_s)
                           ("MinJobAge", f"{st.get('keep_finished_s', 300)} sec"),
                           ("KillWait", f"{int(st.get('kill_grace_s', 5))} sec"),
                           ("SlurmdTimeout", f"{int(st.get('node_timeout_s', 30))} sec"),
                           ("PriorityType", "priority/multifactor"),
                           ("CorralVersion", st.get("version")),
                           ("CorralDatabase", st.get("database"))]:
            print(f"{key:<24}= {value}")
        return 0
    if what in ("licenses", "lic"):
        lic = c.status().get("licenses") or {}
        if target:
            lic = {k: v for k, v in lic.items() if k == target}
            if not lic:
                raise frontend.Exit(1, f"License {target} not found")
        for name, n in lic.items():
            pairs = [[("LicenseName", name)],
                     [("Total", n["total"]), ("Used", n["used"]),
                      ("Free", n["total"] - n["used"]), ("Reserved", 0), ("Remote", "no")]]
            print(show.render(pairs, one))
        return 0
    if what in ("job", "jobid"):
        jobs = _jobs_for(c, target)
        if "json" in o:
            print(json.dumps({"jobs": jobs}, indent=2))
            return 0
        if not jobs and target is None:
            print("No jobs in the system")
        for j in jobs:
            print(show.render(show.job_pairs(j, details="details" in o), one))
        return 0
    parts = c.partitions()
    if what in ("node", "nodes"):
        nodes = c.nodes()
        if target:
            want = set(hostlist.expand(target))
            nodes = [n for n in nodes if n["name"] in want]
            if not nodes:
                raise frontend.Exit(1, f"Node {target} not found")
        for n in nodes:
            member = [p["name"] for p in parts if n["name"] in p["nodes"]]
            print(show.render(show.node_pairs(n, member), one))
        return 0
    if target:
        parts = [p for p in parts if p["name"] == target]
        if not parts:
            raise frontend.Exit(1, f"Partition {target} not found")
    for p in parts:
        print(show.render(show.partition_pairs(p), one))
    return 0


def _write(c: Any, args: list[str]) -> int:
    """write batch_script JOBID [FILE|-]: the job's script, for its owner and admins."""
    if len(args) < 2 or _word(args[0], ["batch_script"], "entity") != "batch_script":
        raise frontend.Exit(1, "usage: scontrol write batch_script JOBID [FILE|-]")
    spec = args[1]
    j = _jobs_for(c, spec)[0]
    if "script" in (j.get("withheld") or []):
        raise frontend.Exit(1, f"job {spec}: only its owner ({j['user']}) and administrators "
                               "may read its batch script")
    script = (j.get("spec") or {}).get("script")
    if script is None:
        raise frontend.Exit(1, f"job {spec} has no batch script (it runs a command)")
    target = args[2] if len(args) > 2 else f"slurm-{spec}.sh"
    if target == "-":
        sys.stdout.write(script)
        return 0
    try:
        with open(target, "w") as f:
            f.write(script)
    except OSError as e:
        raise frontend.Exit(1, f"{target}: {e.strerror}") from None
    print(f"batch script for job {spec} written to {target}")
    return 0


def _now() -> float:
    import time
    return time.time()


def _env_nodelist() -> str:
    import os
    text = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST")
    if not text:
        raise frontend.Exit(1, "No hostlist specified")
    return text


def _plain_id(spec: str) -> int | None:
    """A bare job id (an array's id included), by the one strict parser."""
    try:
        return parse_job_id(spec)
    except InvalidRequest:
        return None


def _ids(c: Any, args: list[str], *, whole: bool = False) -> list[tuple[str, int, bool]]:
    """(spec, job id, whole array?): with `whole`, an array's id is the whole array in
    one request (hold, release, update), as Slurm's; otherwise each of its tasks."""
    out: list[tuple[str, int, bool]] = []
    for arg in args:
        for spec in split_ids([arg.replace("jobid=", "").replace("JobId=", "")]):
            if whole and _plain_id(spec) is not None:
                out.append((spec, int(spec), True))
            elif spec:
                missing = f"Invalid job id specified for job {spec}"
                out.extend((spec, j["id"], False) for j in _jobs_for(c, spec, missing))
    return out


_UPDATE = {"timelimit": "time_limit_s", "jobname": "name", "name": "name",
           "partition": "partition", "nice": "nice", "priority": "priority",
           "starttime": "t_begin", "begintime": "t_begin", "numcpus": "cpus_per_node",
           "mincpusnode": "cpus_per_node", "minmemorynode": "mem_mb_per_node",
           "account": "account"}


def _update(c: Any, args: list[str]) -> int:
    fields: dict[str, Any] = {}
    targets: list[str] = []
    for arg in args:
        key, eq, value = arg.partition("=")
        k = key.lower()
        if not eq:
            raise frontend.Exit(1, f"Invalid input: {arg}")
        if k in ("jobid", "job"):
            targets.append(value)
            continue
        if k not in _UPDATE:
            raise frontend.Exit(1, f"Update of this parameter is not supported: {arg}")
        field = _UPDATE[k]
        if field == "time_limit_s":
            fields[field] = parse_duration_s("TimeLimit", value)
        elif field == "t_begin":
            fields[field] = timefmt.parse_begin(value)
        elif field == "mem_mb_per_node":
            fields[field] = parse_mem_mb("MinMemoryNode", value)
        elif field in ("nice", "priority", "cpus_per_node"):
            if not re.fullmatch(r"-?[0-9]+", value, re.ASCII):
                raise frontend.Exit(1, f"Invalid {key} value: {value}")
            fields[field] = int(value)
        else:
            fields[field] = value
    if not targets:
        raise frontend.Exit(1, "No job identification provided")
    for spec, job_id, whole in _ids(c, targets, whole=True):
        _act(spec, lambda job_id=job_id, whole=whole: c.update(job_id, whole_array=whole,
                                                               **fields))
    return 0


def _act(spec: str, call: Any) -> None:
    try:
        call()
    except NotFound:
        raise frontend.Exit(1, f"Invalid job id specified for job {spec}") from None
    except CorralError as e:
        if e.code == "unavailable":
            raise
        raise frontend.Exit(1, f"{e} for job {spec}") from None


def scontrol(argv: list[str]) -> int:
    found, words = parse(argv, TABLE)
    o = collect(found)
    if "version" in o or (words and words[0].lower() == "version"):
        print(SLURM_VERSION)
        return 0
    if "help" in o or not words or words[0].lower() == "help":
        print("Usage: scontrol [-o] show job|node|partition|config|hostnames [ID]\n"
              "       scontrol hold|release|requeue|requeuehold JOBID[,JOBID…]\n"
              "       scontrol update JobId=N TimeLimit=… JobName=… Partition=… …\n"
              "       scontrol write batch_script JOBID [FILE|-]")
        return 0
    cmd = _word(words[0], ["show", "hold", "release", "requeue", "requeuehold", "update",
                           "uhold", "suspend", "resume", "ping", "write"], "keyword")
    args = words[1:]
    with frontend.client() as c:
        if cmd == "show":
            return _show(c, args, o)
        if cmd == "ping":
            c.status()
            print("Slurmctld(primary) at localhost is UP")
            return 0
        if cmd == "update":
            return _update(c, args)
        if cmd == "write":
            return _write(c, args)
        if cmd in ("suspend", "resume"):
            raise frontend.Exit(1, f"{cmd} is not supported by corral")
        if not args:
            raise frontend.Exit(1, f"too few arguments for keyword:{cmd}")
        if cmd.startswith("requeue") and os.environ.get("CORRAL_JOB_ID"):
            # A job requeueing itself (submitit's checkpoint): the kill that the
            # requeue orders reaches this process too; Slurm's scontrol has answered by
            # then, so finish the call and exit 0 rather than die of the SIGTERM.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for spec, job_id, whole in _ids(c, args, whole=not cmd.startswith("requeue")):
            if cmd in ("hold", "uhold"):
                _act(spec, lambda job_id=job_id, whole=whole: c.hold(job_id, whole_array=whole))
            elif cmd == "release":
                _act(spec, lambda job_id=job_id, whole=whole: c.release(job_id,
                                                                        whole_array=whole))
            else:
                _act(spec, lambda job_id=job_id: c.requeue(job_id,
                                                           hold=cmd == "requeuehold"))
    sys.stdout.flush()
    return 0


def main() -> None:
    frontend.run(PROG, scontrol, error_prefix="")


if __name__ == "__main__":
    main()
