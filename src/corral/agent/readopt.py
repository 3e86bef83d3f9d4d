"""A restarted agent takes over the runs its predecessor left in the spool.

For each run directory (corral.agent.runs), newest run of each job first:
- a report not yet acknowledged by the controller is held again, to be re-sent;
- a run whose supervisor still lives (same pid, same start time) is followed as if
  it had been started here: measured, limited (time, memory), cancelled, reported;
- a run that ended meanwhile (its supervisor wrote the exit status) is reported;
- anything else (an older run of a job, an unreadable record, a supervisor that
  died without writing the status) cannot be followed: whatever runs of it is killed
  and the run forgotten, so the controller, not hearing of it, ends it as lost.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from corral.agent import runs
from corral.agent.cgroup import JobCgroup
from corral.agent.jobrun import Job
from corral.agent.proctree import JobTree
from corral.agent.protocol import JobReport, Launch, ProtocolError
from corral.agent.spawn import StartError, resolve_user
from corral.logs import log_ids

if TYPE_CHECKING:
    from corral.agent.launcher import Launcher

log = logging.getLogger(__name__)


# A run whose supervisor has not written procs.json yet (the agent stopped right after
# starting it) is given this long to do so.
PROCS_WAIT_S = 3.0
# How long the processes of a run that cannot be followed are swept and killed until
# none is left.
KILL_WAIT_S = 2.0


def _await_procs(records: list[runs.Record]) -> None:
    """Wait (briefly, at start-up) for supervisors that have not recorded their job."""
    waiting = [rec for rec in records if rec.report is None and rec.launch is not None
               and not (rec.path / "procs.json").exists()]
    deadline = time.monotonic() + PROCS_WAIT_S
    while waiting and time.monotonic() < deadline:
        time.sleep(0.05)
        waiting = [rec for rec in waiting if not (rec.path / "procs.json").exists()]


def readopt(launcher: Launcher) -> list[JobReport]:
    held: list[JobReport] = []
    records = runs.scan(launcher.spool)
    _await_procs(records)
    for rec in records:
        if rec.report is not None:
            try:
                held.append(JobReport.from_dict(rec.report))
                continue
            except TypeError:
                pass  # unreadable: as if there were none
        launch = recorded_launch(rec)
        if launch is None or rec.job_id in launcher.jobs:
            kill_unfollowed(rec, "its record is unreadable or superseded")
            continue
        procs = runs.read_procs(rec.path)
        end = runs.read_exit(rec.path)
        follow = (end is None and procs is not None
                  and runs.alive(procs.supervisor_pid, procs.supervisor_start))
        if end is None and not follow:
            end = runs.read_exit(rec.path)  # it may have ended since the first look
        if procs is None or (end is None and not follow):
            kill_unfollowed(rec, "its supervisor is gone without a word")
            continue
        launcher.follow(_job(rec, launch, procs), end)
    return held


def recorded_launch(rec: runs.Record) -> Launch | None:
    try:
        return Launch.from_dict(rec.launch["launch"]) if rec.launch else None
    except (ProtocolError, KeyError, TypeError):
        return None


def _uid(launch: Launch | None) -> int:
    if launch is not None and os.geteuid() == 0:
        try:
            return resolve_user(launch).uid
        except StartError:
            return launch.uid
    return os.getuid()


def _job(rec: runs.Record, launch: Launch, procs: runs.Procs) -> Job:
    assert rec.launch is not None
    cg_path = rec.launch.get("cgroup")
    cgroup = JobCgroup(Path(cg_path)) if cg_path and Path(cg_path).is_dir() else None
    agent_id = str(rec.launch.get("agent_id", ""))
    uid = _uid(launch)
    job = Job(launch, rec.path, agent_id, uid, procs.supervisor_pid,
              procs.supervisor_start, float(rec.launch.get("t_start") or time.time()),
              asyncio.get_running_loop().create_future(), cgroup=cgroup)
    job.job_pid = procs.job_pid
    cpus = rec.launch.get("cpus")
    if isinstance(cpus, list):
        job.cpus = tuple(c for c in cpus if isinstance(c, int) and not isinstance(c, bool))
    job.tree = JobTree(procs.job_pid, uid=uid, job_id=launch.job_id, agent_id=agent_id,
                       root_alive=runs.alive(procs.job_pid, procs.job_start),
                       root_start=procs.job_start)
    return job


def kill_unfollowed(rec: runs.Record, why: str) -> None:
    """Kill whatever runs of a run that cannot be followed, and forget it."""
    agent_id = str((rec.launch or {}).get("agent_id", ""))
    procs = runs.read_procs(rec.path)
    if agent_id:
        tree = JobTree(procs.job_pid if procs else -1, uid=_uid(recorded_launch(rec)),
                       job_id=rec.job_id, agent_id=agent_id,
                       root_alive=procs is not None
                       and runs.alive(procs.job_pid, procs.job_start),
                       root_start=procs.job_start if procs else 0)
        # a process may fork between a sweep and the kill, and a killed one takes a
        # moment to die: sweep and kill again until none is left (bounded)
        deadline = time.monotonic() + KILL_WAIT_S
        tree.sweep()
        if tree.alive():
            log.warning("job %d: run %d cannot be followed (%s); killing %s",
                        rec.job_id, rec.run, why, tree.alive(), extra=log_ids(job_id=rec.job_id))
        while tree.alive() and time.monotonic() < deadline:
            tree.kill_all()
            time.sleep(0.02)
            tree.sweep()
    runs.remove(rec.path)
