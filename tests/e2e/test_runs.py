"""One live run per job, whatever happens to the agent or the controller.

Real controller and agent processes. Each job appends `PID TICK RESTART TIME` lines
to a log of its own, so the log shows whether one run or several ran, and when.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import FINAL, Cluster, temp_cluster

pytestmark = pytest.mark.slow  # each waits out leases and job runs
LEASE_S = 4  # the short lease of the node-loss tests
KILL_GRACE_S = 1  # make_cluster's


def _ticker(c: Cluster, name: str, ticks: int, code: int, *, requeue: bool = True,
            again: int = 3) -> tuple[int, Path]:
    """A job that ticks `ticks` times (0.25 s apart) then exits `code`; a second run
    ticks `again` times."""
    log = c.state / f"{name}.ticks"
    script = (f"#!/bin/sh\nn={ticks}\n[ \"$CORRAL_RESTART_COUNT\" = 0 ] || n={again}\n"
              "i=1\nwhile [ $i -le $n ]; do\n"
              f"  echo \"$$ $i $CORRAL_RESTART_COUNT $(date +%s.%N)\" >> {log}\n"
              "  i=$((i + 1)); sleep 0.25\ndone\n"
              f"exit {code}\n")
    with c.client() as cl:
        job_id = cl.submit(name=name, working_dir=str(c.state), script=script,
                           stdout="/dev/null", requeue=requeue)
    return job_id, log


def _ticks(log: Path) -> list[tuple[int, int, int, float]]:
    rows = []
    for line in log.read_text().splitlines():
        pid, tick, run, t = line.split()
        rows.append((int(pid), int(tick), int(run), float(t)))
    return rows


def _wait_ticking(log: Path, n: int = 2, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{log} does not tick")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rindex(b")") + 2:][:1] not in (b"Z", b"X")


def _one_run(log: Path, ticks: int) -> None:
    rows = _ticks(log)
    assert {r[0] for r in rows} == {rows[0][0]}, rows  # one process wrote them all
    assert [r[1] for r in rows] == list(range(1, ticks + 1)), rows  # one sequence
    assert {r[2] for r in rows} == {0}


def _kill9_agent(c: Cluster) -> None:
    pid = c.pid("agent")
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.fixture
def short_lease() -> Iterator[Cluster]:
    with temp_cluster("corral-e2e-", controller_config=f"node_lease_s = {LEASE_S}") as c:
        yield c


def test_a_restarted_agent_readopts_its_jobs(cluster: Cluster) -> None:
    ticks = 32
    keep, once = _ticker(cluster, "keep", ticks, 3), _ticker(cluster, "once", ticks, 0,
                                                             requeue=False)
    for job_id, log in (keep, once):
        cluster.wait_state(job_id, {"RUNNING"}, timeout_s=20)
        _wait_ticking(log)
    _kill9_agent(cluster)
    time.sleep(1.0)
    assert all(_alive(_ticks(log)[0][0]) for _, log in (keep, once))  # unsupervised now
    out = cluster.corral("up", "--node", "node1").stdout
    assert "agent started" in out and "controller already running" in out, out
    with cluster.client() as cl:
        time.sleep(1.0)  # the new agent has registered: the jobs are still its jobs
        assert {cl.job(j)["state"] for j, _ in (keep, once)} == {"RUNNING"}
        nodes = cluster.corral("nodes").stdout
        assert " 2/2 " in nodes, nodes  # their CPUs are counted
        jobs = {j: cl.wait(j, timeout_s=30) for j, _ in (keep, once)}
        events = {j: [e["kind"] for e in cl.events(j)] for j, _ in (keep, once)}
    assert (jobs[keep[0]]["state"], jobs[keep[0]]["exit_code"]) == ("FAILED", 3)
    assert (jobs[once[0]]["state"], jobs[once[0]]["exit_code"]) == ("COMPLETED", 0)
    assert all(j["restarts"] == 0 for j in jobs.values()), jobs
    assert not any("requeue" in kinds for kinds in events.values()), events
    for _, log in (keep, once):
        _one_run(log, ticks)


def _shepherd(c: Cluster) -> int:
    """The agent's shepherd (corral.agent.shepherd), which forks the supervisors."""
    agent = c.pid("agent")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            if ppid == agent and any(a.endswith(b"shepherd.py") for a in argv):
                return int(entry.name)
    raise AssertionError("the agent has no shepherd")


def test_a_killed_shepherd_leaves_each_job_to_end_once(cluster: Cluster) -> None:
    """The shepherd killed mid-job: the job ends once, with its exit status; the next
    job gets a new shepherd; then the agent killed too, and restarted: it re-adopts
    the job started by that one."""
    ticks = 16
    first = _ticker(cluster, "first", ticks, 4)
    cluster.wait_state(first[0], {"RUNNING"}, timeout_s=20)
    _wait_ticking(first[1])
    old = _shepherd(cluster)
    os.kill(old, signal.SIGKILL)
    second = _ticker(cluster, "second", ticks, 0)
    cluster.wait_state(second[0], {"RUNNING"}, timeout_s=20)
    _wait_ticking(second[1])
    assert _shepherd(cluster) != old
    _kill9_agent(cluster)
    out = cluster.corral("up", "--node", "node1").stdout
    assert "agent started" in out, out
    with cluster.client() as cl:
        jobs = {j: cl.wait(j, timeout_s=30) for j, _ in (first, second)}
        events = {j: [e["kind"] for e in cl.events(j)] for j, _ in (first, second)}
    assert (jobs[first[0]]["state"], jobs[first[0]]["exit_code"]) == ("FAILED", 4)
    assert (jobs[second[0]]["state"], jobs[second[0]]["exit_code"]) == ("COMPLETED", 0)
    assert all(j["restarts"] == 0 for j in jobs.values()), jobs
    assert not any("requeue" in kinds for kinds in events.values()), events
    for _, log in (first, second):
        _one_run(log, ticks)


def _wait_states(c: Cluster, want: dict[int, set[str]], timeout_s: float
                 ) -> dict[int, float]:
    """When each job first reached one of its wanted states (time.time())."""
    seen: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    with c.client() as cl:
        while len(seen) < len(want) and time.monotonic() < deadline:
            for job_id, states in want.items():
                if job_id not in seen and cl.job(job_id)["state"] in states:
                    seen[job_id] = time.time()
            time.sleep(0.05)
    assert len(seen) == len(want), (seen, want)
    return seen


def test_a_dead_agent_s_jobs_end_within_the_lease(short_lease: Cluster) -> None:
    c = short_lease
    (again, again_log), (once, once_log) = (_ticker(c, "again", 400, 0),
                                           _ticker(c, "once", 400, 0, requeue=False))
    for job_id, log in ((again, again_log), (once, once_log)):
        c.wait_state(job_id, {"RUNNING"}, timeout_s=20)
        _wait_ticking(log)
    old_pids = [_ticks(log)[0][0] for log in (again_log, once_log)]
    t_dead = time.time()
    _kill9_agent(c)
    seen = _wait_states(c, {again: {"PENDING"}, once: {"NODE_FAIL"}}, timeout_s=30)
    bound_s = LEASE_S + KILL_GRACE_S + 2.0
    for job_id, t in seen.items():
        took_s = t - t_dead
        print(f"job {job_id}: {took_s:.2f} s from agent death to "
              f"{'requeue' if job_id == again else 'NODE_FAIL'} (bound {bound_s} s)")
        assert LEASE_S <= took_s <= bound_s + 2.5, (job_id, took_s)
    assert not any(_alive(pid) for pid in old_pids)  # dead before the requeue
    last_old_tick = max(r[3] for r in _ticks(again_log))
    assert last_old_tick < seen[again]
    with c.client() as cl:
        assert cl.job(once)["state"] == "NODE_FAIL"
        requeues = [e for e in cl.events(again) if e["kind"] == "requeue"]
    assert len(requeues) == 1 and "NODE_FAIL" in requeues[0]["data"]["why"], requeues
    c.corral("up", "--node", "node1")  # the node comes back: the next run starts
    with c.client() as cl:
        job = cl.wait(again, timeout_s=30)
    assert (job["state"], job["restarts"]) == ("COMPLETED", 1), job
    rows = _ticks(again_log)
    first, second = [r for r in rows if r[2] == 0], [r for r in rows if r[2] == 1]
    assert len({r[0] for r in first}) == 1 and [r[1] for r in second] == [1, 2, 3], rows
    assert min(r[3] for r in second) > max(r[3] for r in first)  # one run after the other
    assert [r[1] for r in first] == list(range(1, len(first) + 1))
    assert _ticks(once_log)[-1][1] == len(_ticks(once_log))  # never ran again


def test_down_then_up_keeps_the_running_jobs(cluster: Cluster) -> None:
    ticks = 32
    jobs = [_ticker(cluster, "a", ticks, 5), _ticker(cluster, "b", ticks, 0)]
    for job_id, log in jobs:
        cluster.wait_state(job_id, {"RUNNING"}, timeout_s=20)
        _wait_ticking(log)
    out = cluster.corral("down").stdout
    assert "2 running job(s)" in out and "corral up" in out, out
    assert "controller stopped" in out and "agent stopped" in out, out
    assert all(_alive(_ticks(log)[0][0]) for _, log in jobs)
    out = cluster.corral("up", "--node", "node1").stdout
    assert "controller started" in out and "agent started" in out, out
    with cluster.client() as cl:
        ended = [cl.wait(job_id, timeout_s=30) for job_id, _ in jobs]
    assert [(j["state"], j["exit_code"], j["restarts"]) for j in ended] == [
        ("FAILED", 5, 0), ("COMPLETED", 0, 0)], ended
    for _, log in jobs:
        _one_run(log, ticks)


def test_up_is_not_fooled_by_a_zombie_or_a_reused_pid(cluster: Cluster) -> None:
    cluster.kill9_controller()
    # A controller of ours, killed and not reaped: a zombie with the pid of the file.
    ctl = subprocess.Popen([sys.executable, "-m", "corral.api.server"], env=cluster.env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while cluster.pid("controller") != ctl.pid and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cluster.pid("controller") == ctl.pid
        os.kill(ctl.pid, signal.SIGKILL)
        while _alive(ctl.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(f"/proc/{ctl.pid}/stat") as f:
            assert f.read().split(") ")[1][0] == "Z"  # still in the process table
        out = cluster.corral("up", "--node", "node1").stdout
        assert "controller started" in out, out
    finally:
        ctl.wait()
    # A live process that is not a controller holds the pid of the file.
    cluster.kill9_controller()
    other = subprocess.Popen(["sleep", "60"])
    try:
        (cluster.state / "controller.pid").write_text(f"{other.pid}\n")
        out = cluster.corral("up", "--node", "node1").stdout
        assert "controller started" in out, out
    finally:
        other.kill()
        other.wait()
    with cluster.client() as cl:
        job_id = cl.submit(name="after", working_dir=str(cluster.state), argv=["true"],
                           stdout="/dev/null")
        assert cl.wait(job_id, timeout_s=30)["state"] == "COMPLETED"
        assert cl.job(job_id)["state"] in FINAL
    # and a running controller is recognised as such
    assert "controller already running" in cluster.corral("up", "--node", "node1").stdout
