"""Reaching the controller: --wait outlives timeouts and restarts; the drop-in
commands find their controller in a cleaned environment; an unreachable one is
one line, quickly."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corral.client import api
from tests.e2e.cluster import Cluster


def _read_all(fd: int, proc: subprocess.Popen[str], timeout_s: float) -> str:
    """What the process writes to the terminal `fd` until it exits."""
    out = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out.decode(errors="replace")


def test_submit_wait_outlives_the_client_timeout_and_a_controller_restart(
        cluster: Cluster) -> None:
    env = {**cluster.env, "CORRAL_TIMEOUT_S": "2"}
    master, slave = pty.openpty()  # progress is shown on a terminal
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral.cli", "submit", "--wait", "--wrap", "sleep 9; exit 3"],
        env=env, cwd=cluster.state, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    try:
        assert proc.stdout is not None
        job_id = int(proc.stdout.readline().split()[-1])
        assert cluster.wait_state(job_id, {"RUNNING"}, timeout_s=20)["state"] == "RUNNING"
        time.sleep(2.5)  # longer than one client timeout
        cluster.kill9_controller()
        time.sleep(2)
        cluster.start_controller()
        progress = _read_all(master, proc, 90)
        assert proc.wait(timeout=30) == 3, progress
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert time.monotonic() - t0 > 9
    lines = progress.replace("\r", "").splitlines()
    assert f"job {job_id}: RUNNING on node1" in lines, lines
    assert any(line.startswith(f"job {job_id}: controller: ") and "asking again" in line
               for line in lines), lines
    assert f"job {job_id}: the controller answers again" in lines, lines
    assert lines[-1] == f"job {job_id} ended FAILED (exit code 3)", lines


def test_dropins_find_their_controller_with_a_cleaned_environment(cluster: Cluster,
                                                                  tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    cluster.corral("compat", "install", str(bindir))
    clean = {"PATH": "/usr/bin:/bin"}  # as `env -i` leaves it, give or take PATH
    proc = subprocess.run([str(bindir / "sbatch"), "--parsable", "--wrap", "true"],
                          env=clean, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    job_id = int(proc.stdout.strip())
    assert cluster.wait(job_id)["state"] == "COMPLETED"
    proc = subprocess.run([str(bindir / "squeue"), "-h", "-t", "all", "-j", str(job_id)],
                          env=clean, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and str(job_id) in proc.stdout, proc
    # an address given in the environment still wins
    other = {**clean, "CORRAL_SOCKET": str(tmp_path / "none.sock")}
    proc = subprocess.run([str(bindir / "squeue")], env=other, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and "none.sock" in proc.stderr


def test_a_system_install_is_found_without_any_setting(cluster: Cluster,
                                                       tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": os.environ.get(
        "PYTHONPATH", ""), "CORRAL_SYSTEM_SOCKET": str(cluster.state / "corral.sock")}
    proc = subprocess.run([sys.executable, "-m", "corral.cli", "status"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "controller  up" in proc.stdout, proc


def test_default_url_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mp = monkeypatch
    for key in ("CORRAL_URL", "CORRAL_SOCKET", "CORRAL_STATE_DIR"):
        mp.delenv(key, raising=False)
    mp.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    system = tmp_path / "system.sock"
    mp.setenv("CORRAL_SYSTEM_SOCKET", str(system))
    mine = f"unix://{tmp_path / 'xdg' / 'corral' / 'corral.sock'}"
    assert api.default_url() == mine  # nothing anywhere: the user's own (to name it)
    system.touch()
    assert api.default_url() == f"unix://{system}"
    (tmp_path / "xdg" / "corral").mkdir(parents=True)
    (tmp_path / "xdg" / "corral" / "corral.sock").touch()
    assert api.default_url() == mine
    mp.setattr(api, "BOUND_URL", "unix:///bound.sock")
    assert api.default_url() == "unix:///bound.sock"
    mp.setenv("CORRAL_STATE_DIR", "/sd")
    assert api.default_url() == "unix:///sd/corral.sock"


def _corral(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "corral.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    return proc, time.monotonic() - t0


def test_an_unreachable_controller_is_one_line_quickly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    path = str(tmp_path / "stuck.sock")
    stuck = socket.socket(socket.AF_UNIX)
    stuck.bind(path)
    stuck.listen(0)  # never accepts: its backlog fills
    filler = socket.socket(socket.AF_UNIX)
    filler.connect(path)
    try:
        proc, took_s = _corral({**env, "CORRAL_SOCKET": path}, "jobs")
        assert proc.returncode == 1 and took_s < 15, (proc, took_s)
        assert proc.stderr.splitlines() == [
            f"corral jobs: error: controller: unix://{path} does not take connections "
            "(waited 5 s)"]
    finally:
        filler.close()
        stuck.close()
    mute = socket.socket(socket.AF_UNIX)  # takes connections, never answers
    mute_path = str(tmp_path / "mute.sock")
    mute.bind(mute_path)
    mute.listen(8)
    try:
        proc, took_s = _corral({**env, "CORRAL_SOCKET": mute_path, "CORRAL_TIMEOUT_S": "1"},
                               "jobs")
        assert proc.returncode == 1 and took_s < 10, (proc, took_s)
        assert proc.stderr.splitlines() == [
            f"corral jobs: error: controller: no answer from unix://{mute_path} in time "
            "(waited 1 s)"]
    finally:
        mute.close()
