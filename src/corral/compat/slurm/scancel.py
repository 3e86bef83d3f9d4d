"""scancel: cancel jobs, array tasks or whole arrays, or send them a signal."""

from __future__ import annotations

import signal as _signal
import sys
from typing import Any

from corral.client import Client
from corral.compat import frontend
from corral.compat.options import NONE, REQUIRED, Opt, collect, parse
from corral.compat.slurm import jobview as v
from corral.compat.slurm.sbatch import SLURM_VERSION
from corral.model.errors import Conflict, CorralError, InvalidRequest, NotFound
from corral.model.jobid import JobRef, parse_job_ref, split_ids

PROG = "scancel"
TABLE = [
    Opt("account", "account", REQUIRED, "A"), Opt("batch", "batch", NONE, "b"),
    Opt("full", "full", NONE, "f"), Opt("hurry", "ignored", NONE, "H"),
    Opt("interactive", "ignored", NONE, "i"), Opt("clusters", "ignored", REQUIRED, "M"),
    Opt("name", "name", REQUIRED, "n"), Opt("jobname", "name", REQUIRED),
    Opt("partition", "partition", REQUIRED, "p"), Opt("quiet", "quiet", NONE, "Q"),
    Opt("qos", "ignored", REQUIRED, "q"), Opt("reservation", "ignored", REQUIRED, "R"),
    Opt("signal", "signal", REQUIRED, "s"), Opt("state", "state", REQUIRED, "t"),
    Opt("user", "user", REQUIRED, "u"), Opt("me", "me", NONE),
    Opt("verbose", "verbose", NONE, "v"), Opt("version", "version", NONE, "V"),
    Opt("nodelist", "nodelist", REQUIRED, "w"), Opt("wckey", "ignored", REQUIRED),
    Opt("help", "help", NONE), Opt("usage", "help", NONE),
]


def signal_number(text: str) -> int:
    t = text.strip().upper()
    if t.isdigit() and 1 <= int(t) <= 64:
        return int(t)
    try:
        return int(_signal.Signals[t if t.startswith("SIG") else "SIG" + t])
    except KeyError:
        raise frontend.Exit(1, f"Invalid job signal: {text}") from None


def _targets(c: Client, specs: list[str], *, whole: bool
             ) -> list[tuple[str, list[int], bool]]:
    """`12`, `12_3`, `12_[1-3]`: -> [(the spec, its job ids, whole array?)]. With
    `whole`, an array's id is cancelled whole in one request; otherwise (a signal)
    each of its tasks is."""
    out: list[tuple[str, list[int], bool]] = []
    for spec in specs:
        ref = _ref(spec)
        arr = ref.job_id
        if whole and ref.tasks is None:
            out.append((spec, [arr], True))
            continue
        queue = [j for j in c.jobs(array=[str(arr)], expand_arrays=True)
                 if j.get("array_job_id") == arr]
        if ref.tasks is None:
            ids = [j["id"] for j in queue if j.get("array_job_id") == arr]
            out.append((spec, ids or [arr], False))
            continue
        tasks = set(ref.tasks)
        ids = [j["id"] for j in queue if j.get("array_job_id") == arr
               and j.get("array_task_id") in tasks]
        out.append((spec, ids or ([arr] if tasks == {0} else []), False))
    return out


def _ref(spec: str, *, steps: bool = False) -> JobRef:
    try:
        return parse_job_ref(spec, steps=steps)
    except InvalidRequest:
        raise frontend.Exit(1, f"Invalid job id {spec}") from None


def scancel(argv: list[str]) -> int:
    found, operands = parse(argv, TABLE, interspersed=True)
    o = collect(found)
    if "version" in o:
        print(SLURM_VERSION)
        return 0
    if "help" in o:
        print("Usage: scancel [-A account] [--batch] [--interactive] [--name=job_name]\n"
              "               [--partition=partition] [--qos=qos] [--reservation=name]\n"
              "               [--signal=name|number] [--state=states] [--user=user_name]\n"
              "               [--me] [job_id[_array_id][.step_id]]")
        return 0
    sig = signal_number(o["signal"]) if o.get("signal") else None
    # As Slurm: a signal reaches the job's steps; -b the batch script, -f both.
    target = "all" if "full" in o else "batch" if "batch" in o else "steps"
    specs = split_ids(operands)
    filters = any(o.get(k) for k in ("user", "name", "partition", "state", "account",
                                      "nodelist")) or "me" in o
    if not specs and not filters:
        raise frontend.Exit(1, "No job identification provided")
    # As Slurm's scancel: with job ids alone (no signal, filter or -b), a job that is
    # unknown or already done is not an error (said only with -v); otherwise it is.
    # A job picked by a filter that ends meanwhile is "already done": ignored when
    # killing.
    lenient = sig is None and (not specs or (not filters and "batch" not in o))
    code = 0
    with frontend.client() as c:
        steps = [s for s in specs if "." in s]
        for spec in steps:
            code = max(code, _cancel_step(c, spec, sig, quiet="quiet" in o))
        specs = [s for s in specs if "." not in s]
        if steps and not specs:
            return code
        if specs:
            targets = _targets(c, specs, whole=sig is None)
        else:
            # an array's pending rest (one entry unless -t asked for states): whole
            targets = [(j["display_id"], [j["array_job_id"]], True) if j.get("array_pending")
                       else (str(j["id"]), [j["id"]], False) for j in _filtered(c, o)]
        for spec, ids, whole in targets:
            if not ids:
                code = max(code, _gone(spec, o, lenient))
            for job_id in ids:
                try:
                    done = c.cancel(job_id, signal=sig, target=target,
                                    whole_array=whole).get("state") in v.FINAL
                    if done and sig is not None:  # a finished job gets no signal
                        code = max(code, _gone(spec, o, lenient))
                except (NotFound, Conflict):
                    code = max(code, _gone(spec, o, lenient))
                except CorralError as e:
                    if e.code == "unavailable":
                        raise
                    print(f"scancel: error: Kill job error on job id {spec}: {e}",
                          file=sys.stderr)
                    code = 1
    return code


def _gone(spec: str, o: dict[str, Any], lenient: bool) -> int:
    """An unknown or finished job: said unless -Q (with job ids alone, only with -v);
    an error (1) unless lenient."""
    if "quiet" not in o and (not lenient or "verbose" in o):
        print(f"scancel: error: Kill job error on job id {spec}: "
              "Invalid job id specified", file=sys.stderr)
    return 0 if lenient else 1


def _cancel_step(c: Client, spec: str, sig: int | None, *, quiet: bool) -> int:
    """`12.3`: cancel (or signal) one step of a running job."""
    ref = _ref(spec, steps=True)
    ids = c.resolve(ref) if ref.tasks is not None else [ref.job_id]
    if len(ids) != 1:
        raise frontend.Exit(1, f"Invalid job id {spec}")
    job, step = ids[0], ref.step_id
    if step is None:
        if ref.step in ("batch", "extern"):
            return 0 if sig is None else _signal_batch(c, job, sig)
        raise frontend.Exit(1, f"Invalid job id {spec}")
    try:
        if sig is None:
            c.end_step(job, step, cancelled=True)
        else:
            c.cancel(job, signal=sig, target="steps", step_id=step)
    except (NotFound, Conflict):
        if not quiet:
            print(f"scancel: error: Kill job error on job id {spec}: "
                  "Invalid job id specified", file=sys.stderr)
        return 1
    return 0


def _signal_batch(c: Client, job_id: int, sig: int) -> int:
    try:
        c.cancel(job_id, signal=sig, target="batch")
    except (NotFound, Conflict):
        return 1
    return 0


def _filtered(c: Client, o: dict[str, Any]) -> list[dict[str, Any]]:
    users = [u for u in (o.get("user") or "").split(",") if u]
    if "me" in o:
        users.append(frontend.me())
    jobs: list[dict[str, Any]] = list(c.jobs(
        expand_arrays=bool(o.get("state")), user=users or None,
        name=[n for n in (o.get("name") or "").split(",") if n] or None,
        partition=[p for p in (o.get("partition") or "").split(",") if p] or None))
    jobs = [j for j in jobs if j["state"] not in v.FINAL]
    if o.get("state"):
        states = {v.slurm_state_name(s) for s in o["state"].split(",")}
        jobs = [j for j in jobs if v.state(j) in states]
    if o.get("account"):
        jobs = [j for j in jobs if j.get("account") in o["account"].split(",")]
    return jobs


def main() -> None:
    frontend.run(PROG, scancel, error_prefix="scancel: error: ")


if __name__ == "__main__":
    main()
