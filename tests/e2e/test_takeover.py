"""Controllers that take over (docs/deployment.md): real controller processes on one
PostgreSQL schema, real agents and clients given every controller's address."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from corral.client import Client
from corral.model.errors import CorralError, NotLeader
from tests.e2e.ha import HA, Ctl, ha_cluster

pytestmark = [pytest.mark.pg, pytest.mark.slow]

# a job says, once per run, that it ran; its exit code is its id modulo 5
JOB = 'echo run >> "runs/$CORRAL_JOB_ID"; sleep {s}; exit $((CORRAL_JOB_ID % 5))'


def _submit(ha: HA, sleep_s: float) -> int:
    with ha.client(timeout_s=20) as c:
        return c.submit(name="t", working_dir=str(ha.root), stdout="/dev/null",
                        argv=["sh", "-c", JOB.format(s=sleep_s)])


class Submitters:
    """Clients submitting without pause, each on its own connection, noting every
    id acknowledged (and every refusal)."""

    def __init__(self, ha: HA, clients: int, sleep_s: float = 0.3) -> None:
        self.ha, self.sleep_s = ha, sleep_s
        self.acked: list[int] = []
        self.errors: list[str] = []
        self.slowest_s = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True)
                         for _ in range(clients)]

    def _run(self) -> None:
        with self.ha.client(timeout_s=20) as c:
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    self.acked.append(c.submit(
                        name="s", working_dir=str(self.ha.root), stdout="/dev/null",
                        argv=["sh", "-c", JOB.format(s=self.sleep_s)]))
                except CorralError as e:
                    self.errors.append(str(e))
                self.slowest_s = max(self.slowest_s, time.monotonic() - t0)
                self._stop.wait(0.1)

    def __enter__(self) -> Submitters:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)


def _all_ran_once(ha: HA, ids: list[int], timeout_s: float = 60) -> list[dict[str, Any]]:
    """Every job ends, with its real exit code, having run exactly once."""
    with ha.client(timeout_s=30) as c:
        jobs = [c.wait(i, timeout_s=timeout_s) for i in ids]
    for j in jobs:
        code = j["id"] % 5
        assert (j["state"], j["exit_code"]) == ("COMPLETED" if code == 0 else "FAILED",
                                                code), j
        assert j["restarts"] == 0, j
        runs = (ha.root / "runs" / str(j["id"])).read_text().splitlines()
        assert runs == ["run"], (j["id"], runs)
    return jobs


def _cluster(ha: HA, controllers: int = 2, agents: int = 2) -> None:
    (ha.root / "runs").mkdir()
    for _ in range(controllers):
        ha.add_controller()
    ha.leader(timeout_s=60)  # (start-up on a busy machine)
    for i in range(agents):
        ha.add_agent(f"n{i + 1}")
    ha.wait_nodes({f"n{i + 1}" for i in range(agents)})


def test_controllers_started_at_once_on_an_empty_database_elect_one() -> None:
    with ha_cluster() as ha:
        for _ in range(3):
            ha.add_controller()
        lead = ha.leader()
        e = ha.controllers()
        deadline = time.monotonic() + 30  # the followers' rows, once each has started
        while len(e["controllers"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            e = ha.controllers()
        assert e["leader"]["address"] == lead.url and e["epoch"] >= 1
        roles = sorted(m["role"] for m in e["controllers"])
        assert roles == ["follower", "follower", "leader"], e
        for c in ha.ctls:
            if c is lead:
                continue
            with Client(c.socket, timeout_s=5) as cl, pytest.raises(NotLeader) as err:
                cl.submit(name="x", working_dir="/tmp", argv=["true"])
            assert err.value.leader == lead.url
            assert "does not lead; the leader is at" in str(err.value)
        assert sum("leading: epoch" in c.log() for c in ha.ctls) == 1
        # the CLI and the drop-in commands, the followers first in their list
        env = {**ha.env, "CORRAL_URL": ",".join(
            c.socket for c in sorted(ha.ctls, key=lambda c: c is lead))}
        status = _run(env, "corral.cli", "status")
        assert f"leader      {lead.url} on " in status and ", epoch 1 (lease 2 s" in status
        assert status.count("(heard ") == 2, status
        out = _run(env, "corral.compat.slurm.squeue", cwd=ha.root)
        assert out.split()[0] == "JOBID", out


def _run(env: dict[str, str], module: str, *args: str, cwd: Path | None = None) -> str:
    p = subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=cwd,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "Traceback" not in p.stderr, (p.stdout, p.stderr)
    return p.stdout


def test_kill9_of_the_leader_loses_nothing_and_jobs_keep_running() -> None:
    with ha_cluster() as ha:
        _cluster(ha)
        old = ha.leader()
        # long jobs that run through the take-over
        running = [_submit(ha, 4.0) for _ in range(4)]
        with ha.client() as c:
            deadline = time.monotonic() + 20
            while any(c.job(i)["state"] != "RUNNING" for i in running):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with Submitters(ha, clients=3) as load:
            time.sleep(1.0)
            t_kill = time.monotonic()
            assert old.proc is not None
            os.kill(old.proc.pid, signal.SIGKILL)
            new = ha.leader(timeout_s=15)
            takeover_s = time.monotonic() - t_kill
            time.sleep(2.0)  # the clients go on with the new leader
        assert new is not old and takeover_s < 10, takeover_s
        assert load.errors == [] and len(load.acked) > 10, load.errors
        jobs = _all_ran_once(ha, running + load.acked)
        t_kill_wall = time.time() - (time.monotonic() - t_kill)
        # the queued ones started once the new leader had taken over
        later = [j for j in jobs if j["t_submit"] > t_kill_wall]
        assert later and all(j["t_start"] > t_kill_wall for j in later)
        assert all(j["t_start"] < t_kill_wall for j in jobs if j["id"] in running)


def test_step_down_under_load_hands_over_and_loses_nothing() -> None:
    with ha_cluster() as ha:
        _cluster(ha, agents=1)
        ha.leader()
        with Submitters(ha, clients=2) as load:
            time.sleep(0.5)
            # as an administrator does it: the CLI, given every controller's address;
            # it names the leader that stepped down (whichever leads by then)
            cli_env = {**ha.env, "CORRAL_URL": ha.client_url}
            said = _run(cli_env, "corral.cli", "controller", "step-down")
            m = re.fullmatch(r"controller (\S+) stepped down \(epoch (\d+) ended\); "
                             r"a follower takes over\n", said)
            assert m, said
            first = next(c for c in ha.ctls if c.url == m.group(1))
            ended = int(m.group(2))
            second = ha.leader(timeout_s=10)
            assert second is not first
            # `corral controller list`: the other leads, under a later epoch, and the
            # one that stepped down follows
            deadline = time.monotonic() + 15
            while True:
                listed = _run(cli_env, "corral.cli", "controller", "list").splitlines()
                lead = re.fullmatch(rf"leader      {re.escape(second.url)} on \S+, epoch "
                                    r"(\d+) \(lease 2 s, renewed \d+\.\d s ago\)", listed[0])
                following = listed[1].startswith(f"followers   {first.url} on ")
                if (lead and following) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert lead and int(lead.group(1)) > ended, listed
            assert following, listed
            time.sleep(1.0)
            # the first came back as a follower: hand back to it
            deadline = time.monotonic() + 15
            while len([m for m in ha.controllers()["controllers"]
                       if m["role"] == "follower" and m["heartbeat_s_ago"] < 2]) < 1:
                assert time.monotonic() < deadline, ha.controllers()["controllers"]
                time.sleep(0.1)
            with ha.client() as c:
                assert c.step_down()["address"] == second.url
            time.sleep(1.0)
        assert ha.leader() is first and first.alive() and second.alive()
        assert load.errors == [] and len(load.acked) > 5, load.errors
        _all_ran_once(ha, load.acked)


def test_a_leader_that_was_away_stops_acting_and_comes_back_as_a_follower() -> None:
    """The leader's process is frozen (as a leader cut off from everything would be
    silent) past its lease: a follower takes over; thawed, the old leader finds its
    lease gone, writes nothing more and starts again as a follower."""
    with ha_cluster() as ha:
        _cluster(ha, agents=1)
        old = ha.leader()
        before = _submit(ha, 3.0)
        assert old.proc is not None
        os.kill(old.proc.pid, signal.SIGSTOP)
        try:
            new = ha.leader(timeout_s=15)
            after = _submit(ha, 0.2)
        finally:
            os.kill(old.proc.pid, signal.SIGCONT)
        assert new is not old
        deadline = time.monotonic() + 15
        while "no longer the leader" not in old.log():
            assert time.monotonic() < deadline, old.log()[-2000:]
            time.sleep(0.1)
        while len(ha.controllers()["controllers"]) < 2 or "following the leader" not in \
                old.log().split("no longer the leader", 1)[1]:
            assert time.monotonic() < deadline, old.log()[-2000:]
            time.sleep(0.1)
        assert old.alive() and ha.leader() is new
        _all_ran_once(ha, [before, after])
        assert ha.controllers()["leader"]["address"] == new.url


def _restart(ha: HA, c: Ctl) -> None:
    """A clean stop and a start (systemctl restart: an upgrade)."""
    assert c.proc is not None
    c.proc.send_signal(signal.SIGTERM)
    c.proc.wait(30)
    ha.start(c)


def _follows(ha: HA, c: Ctl, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(CorralError):  # (its copy of the queue loaded)
            e = ha.controllers()
            if any(m["address"] == c.url and m["role"] == "follower"
                   and m["heartbeat_s_ago"] < 1 and m["lag_events"] is not None
                   and (m["applied_seq"] > 0 or e["last_seq"] == 0)
                   for m in e["controllers"]):
                return
        assert time.monotonic() < deadline, c.log()[-2000:]
        time.sleep(0.1)


def test_a_rolling_restart_under_load_loses_nothing_and_keeps_scheduling() -> None:
    """Step-down of the leader, restart of it, step-down of the other, restart of that
    one, while clients submit without pause and jobs run through it all."""
    with ha_cluster() as ha:
        _cluster(ha)
        a = ha.leader()
        b = ha.other(a)
        _follows(ha, b)
        running = [_submit(ha, 8.0) for _ in range(2)]
        with ha.client() as c:
            deadline = time.monotonic() + 20
            while any(c.job(i)["state"] != "RUNNING" for i in running):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        acked_at: list[int] = []
        with Submitters(ha, clients=3) as load:
            time.sleep(0.5)
            for leader, other in ((a, b), (b, a)):
                with ha.client() as c:
                    assert c.step_down()["address"] == leader.url
                assert ha.leader(timeout_s=10) is other
                _restart(ha, leader)
                _follows(ha, leader)
                acked_at.append(len(load.acked))
            t_last = time.time()
            time.sleep(1.5)  # submits go on to the leader of the end
        assert ha.leader() is a and a.alive() and b.alive()
        assert load.errors == [] and 5 < acked_at[0] < acked_at[1] < len(load.acked), \
            (load.errors, acked_at, len(load.acked))
        jobs = _all_ran_once(ha, running + load.acked)
        # scheduling went on to the end: what came after the last hand-over ran too
        assert [j for j in jobs if j["t_submit"] > t_last]
        started = {j["id"]: j["t_start"] for j in jobs}
        assert all(started[i] < t_last - 1 for i in running)
        for c in ha.ctls:
            assert "no longer fits the log" not in c.log()


def test_a_stop_signal_while_stepping_down_stops_the_controller() -> None:
    """`systemctl stop` (SIGTERM) as a leader steps down and starts again as a fresh
    follower (0.2 s after its answer): sent before, during or after that re-exec,
    the process ends within seconds (cleanly, or at once if the fresh image was not
    up yet: 128 + SIGTERM); the other controller leads."""
    with ha_cluster() as ha:
        _cluster(ha)
        for delay_s in (0.0, 0.1, 0.15, 0.18, 0.2, 0.22, 0.25, 0.3, 0.5):
            leader = ha.leader()
            other = ha.other(leader)
            _follows(ha, other)
            assert leader.proc is not None
            with ha.client() as c:
                assert c.step_down()["address"] == leader.url
            time.sleep(delay_s)
            leader.proc.send_signal(signal.SIGTERM)
            try:
                code = leader.proc.wait(15)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"SIGTERM {delay_s} s after a step-down: still "
                                     f"running after 15 s\n{leader.log()[-1500:]}") from None
            assert code in (0, 128 + signal.SIGTERM), (delay_s, code, leader.log()[-1500:])
            assert ha.leader(timeout_s=10) is other
            ha.start(leader)
            _follows(ha, leader)


def test_a_stopped_leader_gives_its_lease_up() -> None:
    """SIGTERM (`systemctl stop`) of the leader: its last writes in, it gives the
    lease up and exits 0; the other leads without waiting for the lease to run out."""
    with ha_cluster() as ha:
        _cluster(ha, agents=1)
        leader = ha.leader()
        other = ha.other(leader)
        _follows(ha, other)
        assert leader.proc is not None
        leader.proc.send_signal(signal.SIGTERM)
        assert leader.proc.wait(15) == 0, leader.log()[-1500:]
        assert "stopped: the lease of epoch" in leader.log()
        assert ha.leader(timeout_s=10) is other
