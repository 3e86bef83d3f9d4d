"""Followers that keep a warm copy of the queue (docs/deployment.md, "Follower
reads"): real controller processes on one PostgreSQL schema, a real agent. A
follower answers listings, one-job queries, events and explain from the event log
it tails, exactly as the leader would; a client reads its own writes from it; a
take-over starts from the copy; `corral status` shows each follower's lag."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from corral.client import Client
from corral.model.errors import NotLeader
from tests.e2e.ha import HA, Ctl, ha_cluster
from tests.e2e.test_takeover import _all_ran_once, _cluster, _submit

pytestmark = [pytest.mark.pg, pytest.mark.slow]

# what a scheduling pass sets in memory (no event until the job's next change)
IN_MEMORY = ("reason", "priority", "priority_factors", "t_expected_start")


def _stable(jobs: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in dict(j).items() if k not in IN_MEMORY} for j in jobs]


def _raw_get(ctl: Ctl, path: str, min_seq: int = 0) -> tuple[int, dict[str, str]]:
    """GET over the controller's socket: the status and the answer's headers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(ctl.state / "corral.sock"))
        extra = f"X-Corral-Min-Seq: {min_seq}\r\n" if min_seq else ""
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"
                  .encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in head[1:])}
    return int(head[0].split()[1]), headers


def _caught_up(ha: HA, fol: Ctl, timeout_s: float = 20) -> dict[str, Any]:
    """The follower's entry once its copy has applied the whole log."""
    deadline = time.monotonic() + timeout_s
    while True:
        e = ha.controllers()
        mine = [m for m in e["controllers"] if m["address"] == fol.url]
        if mine and mine[0]["role"] == "follower" and mine[0]["lag_events"] == 0 \
                and mine[0]["applied_seq"] == e["last_seq"] > 0:
            return mine[0]
        assert time.monotonic() < deadline, e
        time.sleep(0.1)


def _run(env: dict[str, str], *args: str) -> str:
    p = subprocess.run([sys.executable, "-m", *args], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and "Traceback" not in p.stderr, (p.stdout, p.stderr)
    return p.stdout


def test_a_follower_answers_reads_as_the_leader_would_and_takes_over_warm(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_SESSION_DIR", str(tmp_path / "session"))
    with ha_cluster() as ha:
        _cluster(ha, agents=1)
        lead = ha.leader()
        fol = ha.other(lead)
        # a workload of every kind: ended (well and not), held, cancelled, an array
        ended = [_submit(ha, 0.1) for _ in range(4)]
        with ha.client() as c:
            held = c.submit(name="held", working_dir=str(ha.root), argv=["true"],
                            hold=True)
            cancelled = c.submit(name="cancelled", working_dir=str(ha.root),
                                 argv=["sleep", "60"])
            c.cancel(cancelled)
            tasks = c.submit_many(name="arr", working_dir=str(ha.root), argv=["true"],
                                  array="0-5%2", stdout="/dev/null")
            c.update(held, name="renamed")
            for i in (*ended, *tasks):  # (then nothing changes: the copies compare)
                assert c.wait(i, timeout_s=30)["state"] in ("COMPLETED", "FAILED")
        mine = _caught_up(ha, fol)
        with Client(fol.socket, timeout_s=10) as f, Client(lead.socket, timeout_s=10) as ld:
            assert _stable(f.jobs()) == _stable(ld.jobs())
            assert _stable(f.jobs(history=True)) == _stable(ld.jobs(history=True))
            for i in (*ended, held, cancelled):
                assert _stable([f.job(i)]) == _stable([ld.job(i)])
                assert f.events(i) == ld.events(i)
            assert f.job(held)["name"] == "renamed"
            assert f.explain(ended[0])["explanation"] == ld.explain(ended[0])["explanation"]
            with pytest.raises(NotLeader) as err:  # a write: the leader's
                f.submit(name="x", working_dir=str(ha.root), argv=["true"])
            assert err.value.leader == lead.url
        status, headers = _raw_get(fol, f"/v1/jobs/{held}")
        assert status == 200 and headers["x-corral-served-by"] == "follower"
        assert int(headers["x-corral-seq"]) >= mine["applied_seq"]
        # asked for an event the log does not hold (yet): sent to the leader
        status, headers = _raw_get(fol, "/v1/jobs", min_seq=10**9)
        assert status == 503 and "x-corral-served-by" not in headers
        # read-your-writes: a client writing through the leader and one reading from
        # the follower (the same user: its session), each listing right after a
        # submit holds the job (the follower's copy is read every 50 ms)
        with Client(f"{lead.socket},{fol.socket}", timeout_s=10) as w, \
                Client(f"{fol.socket},{lead.socket}", timeout_s=10) as r:
            for _ in range(30):
                j = w.submit(name="ryw", working_dir=str(ha.root), argv=["true"],
                             stdout="/dev/null")
                assert j in {x["id"] for x in r.jobs()}
            assert r.transport.url == fol.socket  # (never sent on to the leader)
        # the same with the commands, one process each, the follower first
        env = {**ha.env, "CORRAL_URL": f"{fol.socket},{lead.socket}",
               "CORRAL_SESSION_DIR": str(tmp_path / "session-cli")}
        for _ in range(3):
            out = _run(env, "corral.cli", "submit", "-H", "-D", str(ha.root), "-o",
                       "/dev/null", "--wrap", "true")
            j = int(out.split()[-1])
            assert str(j) in _run(env, "corral.compat.slurm.squeue", "-h").split()
            _run(env, "corral.cli", "cancel", str(j))
        # lag: corral status on any controller
        _caught_up(ha, fol)
        assert "up to date with the log" in _run(env, "corral.cli", "status")
        before = {j["id"]: j for j in _stable(Client(fol.socket).jobs())}
        # the take-over starts from the copy
        assert lead.proc is not None
        os.kill(lead.proc.pid, signal.SIGKILL)
        assert ha.leader(timeout_s=15) is fol
        assert "(warm: the followed log's)" in fol.log()
        with ha.client() as c:
            after = {j["id"]: j for j in _stable(c.jobs())}
            for i in ended:
                assert after[i] == before[i]
            c.release(held)
        _all_ran_once(ha, ended)
        with ha.client() as c:
            assert c.wait(held, timeout_s=30)["state"] == "COMPLETED"
        for c in ha.ctls:
            assert "no longer fits the log" not in c.log()


def test_a_follower_without_a_warm_copy_loads_the_queue_when_it_takes_over() -> None:
    """warm_standby = false: the follower answers no reads and loads at take-over."""
    with ha_cluster() as ha:
        (ha.root / "runs").mkdir()
        first = ha.add_controller()
        ha.leader(timeout_s=60)  # (start-up on a busy machine)
        second = ha.add_controller(extra="warm_standby = false")
        ha.add_agent("n1")
        ha.wait_nodes({"n1"})
        ids = [_submit(ha, 0.1) for _ in range(3)]
        deadline = time.monotonic() + 20
        while not any(m["address"] == second.url for m in ha.controllers()["controllers"]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        with Client(second.socket, timeout_s=5) as f, pytest.raises(NotLeader):
            f.jobs()
        assert first.proc is not None
        os.kill(first.proc.pid, signal.SIGKILL)
        assert ha.leader(timeout_s=15) is second
        assert "(from the store)" in second.log()
        _all_ran_once(ha, ids)
        with contextlib.suppress(Exception):
            first.proc.wait(5)
