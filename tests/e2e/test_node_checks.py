"""The site's health check, prolog and epilog, and the retry limit, with real processes:
a controller, the agent of `corral up` (node1) and a second agent (node2)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from corral.agent import runs
from tests.e2e.cluster import Cluster, make_cluster

HEALTH = """#!/bin/sh
if [ -e "{d}/sick-$CORRAL_NODENAME" ]; then
    echo "scratch disk full on $CORRAL_NODENAME"
    echo "second line"
    exit 1
fi
if [ -e "{d}/hang-$CORRAL_NODENAME" ]; then exec sleep 30; fi
exit 0
"""

PROLOG = """#!/bin/sh
env | sort > "{d}/prolog-env-$SLURM_JOB_ID-$CORRAL_NODENAME"
if [ -e "{d}/bad-prolog-$CORRAL_NODENAME" ]; then
    echo "no /scratch for job $SLURM_JOB_ID"
    exit 3
fi
touch "{d}/prolog-done-$SLURM_JOB_ID-$CORRAL_NODENAME"
"""

EPILOG = """#!/bin/sh
echo "$CORRAL_JOB_STATE" > "{d}/epilog-$SLURM_JOB_ID-$CORRAL_NODENAME"
if [ -e "{d}/bad-epilog-$CORRAL_NODENAME" ]; then echo "cannot clean /tmp"; exit 2; fi
"""


def _program(d: Path, name: str, text: str) -> Path:
    path = d / name
    path.write_text(text.format(d=d))
    path.chmod(0o755)
    return path


def _until(what: str, check: Callable[[], Any], timeout_s: float,
           explain: Callable[[], Any] = lambda: "") -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} {explain()}")
        time.sleep(0.1)


def _node(c: Cluster, name: str) -> dict[str, Any]:
    with c.client() as cl:
        return next(n for n in cl.nodes() if n["name"] == name)


def _events(c: Cluster, job_id: int) -> list[dict[str, Any]]:
    with c.client() as cl:
        return cl.events(job_id)


def _final_events(c: Cluster, job_id: int, state: str) -> list[dict[str, Any]]:
    """The job's events up to its end in `state` (a job shows its new state as soon as
    it has it; the event log shows it once committed)."""
    return _until(f"job {job_id}'s {state} event", lambda: (
        (events := _events(c, job_id))[-1]["to_state"] == state and events), 5)


class Site:
    def __init__(self, c: Cluster, progs: Path) -> None:
        self.c, self.progs = c, progs
        self.agents: list[subprocess.Popen[bytes]] = []
        self.job_pids = progs / "job-pids"

    def agent(self, node: str) -> subprocess.Popen[bytes]:
        proc = self.c.start_agent(node)
        self.agents.append(proc)
        _until(f"{node} to register", lambda: _node_state(self.c, node) not in (None, "DOWN"),
               20)
        return proc

    def submit(self, command: str, **extra: Any) -> int:
        with self.c.client() as cl:
            return cl.submit(name="j", working_dir=str(self.progs), stdout="out-%j",
                             script=f"#!/bin/sh\necho $$ >> {self.job_pids}\n{command}\n",
                             **extra)

    def kill_supervisors(self, node: str) -> None:
        """Kill the supervisors of the node's jobs (corral.agent.supervise), as their
        runs record them: what the agent then finds of those jobs it cannot follow,
        and kills."""
        for run in (self.c.state / f"spool-{node}").glob("job*/run*"):
            procs = runs.read_procs(run)
            if procs is not None and runs.alive(procs.supervisor_pid, procs.supervisor_start):
                with contextlib.suppress(OSError):
                    os.kill(procs.supervisor_pid, signal.SIGKILL)

    def close(self) -> None:
        for proc in self.agents:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()
        if self.job_pids.exists():  # the jobs an agent left behind when it was killed
            for pid in {int(p) for p in self.job_pids.read_text().split()}:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)


def _node_state(c: Cluster, name: str) -> str | None:
    with c.client() as cl:
        return next((n["state"] for n in cl.nodes() if n["name"] == name), None)


@pytest.fixture
def site(request: pytest.FixtureRequest) -> Iterator[Site]:
    root = Path(tempfile.mkdtemp(prefix="corral-chk-"))
    root.chmod(0o755)
    progs = root / "progs"
    progs.mkdir()
    progs.chmod(0o777)
    agent_cfg = "\n".join(f"{k} = {v}" for k, v in request.param(progs).items())
    retries = "max_retries = 1"
    c = make_cluster(root, controller_config=retries, extra_config=f"\n[agent]\n{agent_cfg}\n")
    s = Site(c, progs)
    try:
        yield s
    finally:
        s.close()
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def _health_cfg(d: Path) -> dict[str, Any]:
    return {"health_check_program": f'"{_program(d, "check", HEALTH)}"',
            "health_check_interval_s": 1, "health_check_timeout_s": 2}


def _scripts_cfg(d: Path) -> dict[str, Any]:
    return {"prolog": f'"{_program(d, "prolog", PROLOG)}"',
            "epilog": f'"{_program(d, "epilog", EPILOG)}"', "prolog_timeout_s": 10}


def _none_cfg(d: Path) -> dict[str, Any]:
    return {}


@pytest.mark.parametrize("site", [_health_cfg], indirect=True)
def test_failing_health_check_drains_its_node_and_a_pass_resumes_it(site: Site) -> None:
    c, d = site.c, site.progs
    site.agent("node2")
    _until("both nodes up", lambda: _node_state(c, "node1") == "IDLE"
           and _node_state(c, "node2") == "IDLE", 10)

    (d / "sick-node1").touch()
    t0 = time.monotonic()
    node = _until("node1 drained", lambda: (n := _node(c, "node1"))["drain_by"] and n, 5)
    drained_after_s = time.monotonic() - t0
    assert node["state"] == "DRAINED"
    assert node["drain_by"] == "health"
    assert node["drain_reason"] == "scratch disk full on node1"  # its first line only
    assert drained_after_s < 1 + 2 + 1  # one interval, the check's own time, a poll
    print(f"node1 drained {drained_after_s:.2f} s after its check started failing")

    jobs = [site.submit("sleep 0.2") for _ in range(4)]
    for job_id in jobs:
        assert c.wait(job_id)["state"] == "COMPLETED"
        assert c.show(job_id)["node_list"] == ["node2"]

    (d / "sick-node1").unlink()
    t0 = time.monotonic()
    _until("node1 resumed", lambda: _node_state(c, "node1") == "IDLE", 5)
    print(f"node1 resumed {time.monotonic() - t0:.2f} s after its check passed again")
    assert _node(c, "node1")["drain_reason"] == ""

    # a check that does not end in time fails too
    (d / "hang-node1").touch()
    node = _until("node1 drained again", lambda: (n := _node(c, "node1"))["drain_by"] and n, 8)
    assert "timed out after 2 s" in node["drain_reason"]
    (d / "hang-node1").unlink()
    _until("node1 resumed again", lambda: _node_state(c, "node1") == "IDLE", 8)

    # an administrator's drain is theirs: a passing check does not undo it
    c.corral("node", "drain", "node2", "--reason", "memory test")
    time.sleep(2.5)  # two more passing checks
    node2 = _node(c, "node2")
    assert (node2["state"], node2["drain_by"], node2["drain_reason"]) == (
        "DRAINED", "admin", "memory test")
    # and a failing check does not overwrite the administrator's reason
    (d / "sick-node2").touch()
    time.sleep(2.5)
    assert _node(c, "node2")["drain_reason"] == "memory test"
    events = [e["data"] for e in _events_of_nodes(c)]
    assert {"node": "node1", "drain": True, "reason": "scratch disk full on node1",
            "by": "health"} in events
    assert {"node": "node1", "drain": False, "reason": "", "by": "health"} in events
    for name in ("node1", "node2"):  # no job before the first verdict of a new agent
        assert events.index({"node": name, "drain": True, "by": "health",
                             "reason": "waiting for its first health check"}) < events.index(
            {"node": name, "drain": False, "reason": "", "by": "health"})


def _events_of_nodes(c: Cluster) -> list[dict[str, Any]]:
    """The `node` events of the log (they belong to no job: no command shows them)."""
    engine = create_engine(f"sqlite:///{c.state / 'corral.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT data FROM events WHERE kind = 'node'")).all()
    engine.dispose()
    return [{"data": json.loads(r[0])} for r in rows]


@pytest.mark.parametrize("site", [_scripts_cfg], indirect=True)
def test_failing_prolog_requeues_its_job_elsewhere_and_drains_the_node(site: Site) -> None:
    c, d = site.c, site.progs
    (d / "bad-prolog-node1").touch()
    job_id = site.submit('test -e "$PWD/prolog-done-$SLURM_JOB_ID-$SLURMD_NODENAME" '
                         '&& echo prolog ran first')
    # node1 is the only node: the job starts there, its prolog fails
    node = _until("node1 drained", lambda: (n := _node(c, "node1"))["drain_by"] and n, 20)
    assert node["drain_by"] == "prolog"
    assert node["drain_reason"] == (f"prolog {d / 'prolog'} exited 3: no /scratch for job "
                                    f"{job_id} (job {job_id})")
    job = c.wait_state(job_id, {"PENDING"}, timeout_s=10)
    assert job["state"] == "PENDING" and job["retries"] == 1 and job["restarts"] == 1
    env = dict(line.split("=", 1) for line in
               (d / f"prolog-env-{job_id}-node1").read_text().splitlines() if "=" in line)
    assert env["SLURM_JOB_ID"] == env["CORRAL_JOB_ID"] == str(job_id)
    assert env["SLURM_JOB_USER"] == job["user"]
    assert env["SLURM_JOB_UID"] == str(job["uid"])
    assert env["SLURM_SCRIPT_CONTEXT"] == "prolog_slurmd"

    # a second node whose epilog fails: the job runs there, then that node is drained
    (d / "bad-epilog-node2").touch()
    site.agent("node2")
    job = c.wait(job_id)
    assert (job["state"], job["node_list"]) == ("COMPLETED", ["node2"])
    assert (d / f"out-{job_id}").read_text() == "prolog ran first\n"
    assert (d / f"epilog-{job_id}-node2").read_text() == "COMPLETED\n"
    node2 = _until("node2 drained", lambda: (n := _node(c, "node2"))["drain_by"] and n, 10)
    assert node2["drain_by"] == "epilog"
    assert node2["drain_reason"] == (f"epilog {d / 'epilog'} exited 2: cannot clean /tmp "
                                     f"(job {job_id})")
    requeue = [e for e in _events(c, job_id) if e["kind"] == "requeue"]
    assert len(requeue) == 1
    assert requeue[0]["data"]["retry"] == 1 and requeue[0]["data"]["max_retries"] == 1
    assert f"prolog {d / 'prolog'} exited 3" in requeue[0]["data"]["why"]
    assert "prolog" in c.corral("events", str(job_id)).stdout


@pytest.mark.parametrize("site", [_scripts_cfg], indirect=True)
def test_prolog_failure_with_no_retry_left_fails_the_job(site: Site) -> None:
    c, d = site.c, site.progs
    (d / "bad-prolog-node1").touch()
    job_id = site.submit("true", max_retries=0)
    job = c.wait(job_id)
    assert job["state"] == "FAILED" and job["restarts"] == 0
    last = _final_events(c, job_id, "FAILED")[-1]
    assert last["to_state"] == "FAILED"
    assert last["data"]["not_requeued"] == "retry limit reached (0 of 0)"
    assert not (d / f"out-{job_id}").exists()  # it never started
    assert _node(c, "node1")["drain_by"] == "prolog"


@pytest.mark.parametrize("site", [_none_cfg], indirect=True)
def test_requeues_after_node_failures_stop_at_the_retry_limit(site: Site) -> None:
    c = site.c
    c.corral("node", "drain", "node1", "--reason", "kept out of this test")
    agent = site.agent("node2")
    # the site allows one retry (max_retries = 1); this job asks for two
    own = site.submit("exec sleep 120", max_retries=2)
    default = site.submit("exec sleep 120")
    for loss in (1, 2, 3):
        alive = [own] if loss == 3 else [own, default]
        for job_id in alive:
            _until(f"job {job_id}'s run {loss - 1}", lambda j=job_id, r=loss - 1:
                   (job := c.show(j))["state"] == "RUNNING" and job["restarts"] == r, 20)
        # ... and started by the agent (its script has written its pid)
        started = 2 * (loss - 1) + len(alive)  # runs so far
        _until("the jobs' processes", lambda n=started: site.job_pids.exists()
               and len(site.job_pids.read_text().split()) >= n, 20)
        agent.kill()  # node2 fails: its agent and its jobs' supervisors die ...
        agent.wait()
        site.kill_supervisors("node2")
        agent = site.agent("node2")  # ... and its agent comes back without its jobs
        if loss == 2:
            assert c.wait_state(default, {"NODE_FAIL"}, 10)["state"] == "NODE_FAIL"
    assert c.wait_state(own, {"NODE_FAIL"}, 10)["state"] == "NODE_FAIL"

    for job_id, limit in ((own, 2), (default, 1)):
        events = _final_events(c, job_id, "NODE_FAIL")
        retries = [e["data"] for e in events if e["kind"] == "requeue"]
        assert [(r["retry"], r["max_retries"]) for r in retries] == [
            (n, limit) for n in range(1, limit + 1)]
        assert all(r["why"] == "NODE_FAIL: node node2 re-registered without it"
                   for r in retries)
        final = events[-1]
        assert (final["kind"], final["to_state"]) == ("state", "NODE_FAIL")
        assert final["data"]["not_requeued"] == f"retry limit reached ({limit} of {limit})"
        shown = c.corral("events", str(job_id)).stdout
        assert shown.count("retry=") == limit and "not_requeued=retry limit" in shown
        assert c.show(job_id)["retries"] == limit
    assert re.search(r"Retries\W+2 \(max 2\)", c.corral("show", str(own)).stdout)
    assert re.search(r"Retries\W+1\n", c.corral("show", str(default)).stdout)


@pytest.mark.parametrize("site", [_scripts_cfg], indirect=True)
def test_prolog_and_epilog_run_on_every_node_of_the_job(site: Site) -> None:
    c, d = site.c, site.progs
    site.agent("node2")
    job_id = site.submit("sleep 0.5", nodes=2)
    job = c.wait(job_id)
    assert (job["state"], job["node_list"]) == ("COMPLETED", ["node1", "node2"])
    for node in ("node1", "node2"):
        env = (d / f"prolog-env-{job_id}-{node}").read_text()
        assert f"SLURM_JOB_ID={job_id}\n" in env and "SLURM_JOB_NODELIST=node1,node2\n" in env
        _until(f"the epilog on {node}", (d / f"epilog-{job_id}-{node}").exists, 5)

    # a prolog failing on the job's other node: that node is drained, the job requeued
    (d / "bad-prolog-node2").touch()
    job_id = site.submit("sleep 1", nodes=2, max_retries=1)
    node = _until("node2 drained", lambda: (n := _node(c, "node2"))["drain_by"] and n, 20)
    assert node["drain_reason"] == (f"prolog {d / 'prolog'} exited 3: no /scratch for job "
                                    f"{job_id} (job {job_id})")
    assert c.wait_state(job_id, {"PENDING"}, 10)["retries"] == 1
    site.agent("node3")
    job = c.wait(job_id)
    assert (job["state"], job["node_list"], job["restarts"]) == (
        "COMPLETED", ["node1", "node3"], 1)
    events = _events(c, job_id)
    assert any(e["data"].get("prolog_failed", "").endswith(f"no /scratch for job {job_id}")
               and e["data"]["node"] == "node2" for e in events)
    requeue = [e["data"] for e in events if e["kind"] == "requeue"]
    assert len(requeue) == 1 and requeue[0]["retry"] == 1
    assert requeue[0]["why"] == f"prolog {d / 'prolog'} exited 3: no /scratch for job {job_id}"
    assert _node(c, "node1")["drain_by"] == ""
