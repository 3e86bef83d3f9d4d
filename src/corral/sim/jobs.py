"""Turn trace records into simulated jobs, applying the replay settings."""

from __future__ import annotations

from dataclasses import dataclass

from corral.sim.settings import ReplaySettings
from corral.sim.swf import ScenarioJob, SwfRecord


@dataclass(slots=True)
class SimJob:
    job_id: int
    t_submit: float
    run_s: float  # as it will run in the simulation (after any kill)
    limit_s: float  # the requested time (math.inf: unlimited)
    procs: int
    user: str
    valid: bool = True  # runtime > 0 and processors > 0 in the trace
    queue: int = -1  # the trace's queue number (-1: none)


def _procs(r: SwfRecord, field: str) -> int:
    if field == "allocated":
        return r.procs_alloc
    if field == "requested":
        return r.procs_req
    if field == "max":
        return max(r.procs_alloc, r.procs_req)
    return r.procs_req if r.procs_req > 0 else r.procs_alloc


def jobs_from_swf(
    records: list[SwfRecord], settings: ReplaySettings, machine_procs: int
) -> list[SimJob]:
    out: list[SimJob] = []
    for r in records:
        procs = _procs(r, settings.procs_field)
        run = r.run_s
        limit = r.limit_s
        valid = run > 0 and procs > 0
        if not valid:
            mode = settings.bad_records
            if mode == "drop":
                continue
            if mode == "one_second":
                run, limit, procs = 1.0, 1.0, max(procs, 1)
            elif mode == "keep":
                run, procs = max(run, 0.0), max(procs, 1)
            else:  # rlscheduler
                if run == 0:
                    continue
                run = 10.0 if run < 0 else run
                procs = max(procs, 1)
        if limit <= 0:
            limit = run if settings.missing_limit_is_runtime else float("inf")
        if procs > machine_procs:
            if not settings.cap_procs:
                continue
            procs = machine_procs
        if settings.kill_at_limit and run > limit:
            if settings.overrun_estimate == "runtime":
                run, limit = limit, run
            else:
                run = limit
        out.append(SimJob(r.job_id, r.t_submit, run, limit, procs, r.user, valid, r.queue))
    return out


def jobs_from_scenario(jobs: list[ScenarioJob]) -> list[SimJob]:
    return [SimJob(j.job_id, j.t_submit, j.run_s, j.limit_s, j.procs, j.user) for j in jobs]
