"""The controller's stop signals (api/stop_signals.py), in real processes: a stop
signal is never lost, not across a re-exec, and SIGSTOP/SIGCONT is not one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")

# argv[1]: "serve" (a stop calls on_stop, which prints it) or "reexec" (the lock
# taken as api/standby.py's reexec takes it, held until the parent has signalled,
# then the process replaces itself with a "fresh" image that only starts Stops)
SCRIPT = r'''
import os, sys, time
sys.path.insert(0, sys.argv[2])
from corral.api.stop_signals import STOPS
mode = sys.argv[1]
if mode == "fresh":
    STOPS.start()  # (no on_stop: a stop signal ends the process at once)
    time.sleep(20)
    sys.exit(3)
STOPS.on_stop = lambda signo: (print("stop", signo, flush=True), os._exit(0))
if mode == "raise":
    STOPS.on_stop = lambda signo: 1 / 0
STOPS.start()
print("ready", flush=True)
if mode == "reexec":
    with STOPS.lock:
        print("locked", flush=True)
        sys.stdin.readline()  # the parent has sent SIGTERM
        if STOPS.asked.is_set():
            sys.exit(4)
        os.execv(sys.executable, [sys.executable, __file__, "fresh", sys.argv[2]])
time.sleep(20)
sys.exit(3)
'''


def _start(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "stops.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), mode, SRC], text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_sigterm_asks_a_clean_stop_and_sigstop_is_not_one(tmp_path: Path) -> None:
    proc = _start(tmp_path, "serve")
    assert proc.stdout is not None
    os.kill(proc.pid, signal.SIGSTOP)
    time.sleep(0.5)  # (past the taker's wait: it comes back empty)
    os.kill(proc.pid, signal.SIGCONT)
    time.sleep(0.5)
    assert proc.poll() is None
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 0
    assert proc.stdout.read() == f"stop {int(signal.SIGTERM)}\n"


def test_a_sigterm_during_a_reexec_stops_the_fresh_image(tmp_path: Path) -> None:
    proc = _start(tmp_path, "reexec")
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == "locked\n"
    os.kill(proc.pid, signal.SIGTERM)  # (pending: nobody may take it now)
    time.sleep(0.3)
    proc.stdin.write("go\n")
    proc.stdin.flush()
    # the fresh image takes the pending signal at once and ends as told
    assert proc.wait(10) == 128 + signal.SIGTERM


def test_a_stop_that_fails_ends_the_process(tmp_path: Path) -> None:
    proc = _start(tmp_path, "raise")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(10) == 128 + signal.SIGTERM
