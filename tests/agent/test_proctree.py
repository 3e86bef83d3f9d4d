"""One /proc scan finds the processes of many jobs, each in its own tree only."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from corral.agent.proctree import JobTree, sweep_all


def _start(job_id: int, agent: str, *, new_session: bool = True) -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ.get("PATH", "/bin"), "CORRAL_JOB_ID": str(job_id),
           "CORRAL_AGENT_ID": agent}
    return subprocess.Popen(["sleep", "30"], env=env, start_new_session=new_session)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        p.kill()
        p.wait()


def test_one_scan_sorts_processes_into_their_jobs(procs: list[subprocess.Popen[bytes]]
                                                  ) -> None:
    me = os.getuid()
    lead1, lead2 = _start(1, "a"), _start(2, "a")
    escaped1 = _start(1, "a")  # its own session: found by its markers
    other_agent = _start(1, "b")  # job 1 of another agent: not ours
    procs += [lead1, lead2, escaped1, other_agent]
    time.sleep(0.2)
    t1 = JobTree(lead1.pid, uid=me, job_id=1, agent_id="a")
    t2 = JobTree(lead2.pid, uid=me, job_id=2, agent_id="a")
    sweep_all([t1, t2])
    assert {lead1.pid, escaped1.pid} <= set(t1.members)
    assert lead2.pid in t2.members
    assert other_agent.pid not in t1.members and other_agent.pid not in t2.members
    assert escaped1.pid not in t2.members and lead2.pid not in t1.members


def test_a_single_sweep_finds_the_same(procs: list[subprocess.Popen[bytes]]) -> None:
    lead, escaped = _start(7, "x"), _start(7, "x")
    procs += [lead, escaped]
    time.sleep(0.2)
    alone = JobTree(lead.pid, uid=os.getuid(), job_id=7, agent_id="x", root_alive=False)
    alone.sweep()  # by markers only (the root may be another's pid by now)
    assert {lead.pid, escaped.pid} <= set(alone.members)
    assert os.getpid() not in alone.members


def _start_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return int(data[data.rindex(b")") + 2:].split()[19])


def test_processes_older_than_the_job_are_not_read(procs: list[subprocess.Popen[bytes]]
                                                   ) -> None:
    """A process started before the job's main process cannot be the job's: its
    environment is not read (a sweep reads only those of processes started since)."""
    older = _start(8, "y")
    time.sleep(0.05)  # a clock tick (10 ms) or more between them
    lead = _start(8, "y")
    escaped = _start(8, "y")
    procs += [older, lead, escaped]
    time.sleep(0.2)
    start = _start_ticks(lead.pid)
    assert _start_ticks(older.pid) < start
    tree = JobTree(lead.pid, uid=os.getuid(), job_id=8, agent_id="y", root_alive=False,
                   root_start=start)
    tree.sweep()
    assert {lead.pid, escaped.pid} <= set(tree.members)
    assert older.pid not in tree.members
    unknown = JobTree(lead.pid, uid=os.getuid(), job_id=8, agent_id="y", root_alive=False)
    unknown.sweep()  # the start unknown: every process is read
    assert {older.pid, lead.pid, escaped.pid} <= set(unknown.members)
