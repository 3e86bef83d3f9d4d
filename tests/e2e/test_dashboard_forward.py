"""`corral dashboard` on the controller's host: a loopback port forwarded to the Unix
socket, so the browser is its user (the socket's peer credentials); another user's
connection is closed unanswered."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import Cluster

SETPRIV = Path("/usr/bin/setpriv")
SYSTEM_PYTHON = Path("/usr/bin/python3")


def test_the_forwarded_dashboard_knows_its_user(cluster: Cluster) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "corral.cli", "dashboard"],
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("The dashboard: http://127.0.0.1:"), line
        url = line.split()[2]
        r = httpx.get(url, timeout=10)
        assert r.status_code == 200 and 'id="whoami">root<' in r.text, r.text[-500:]
        assert "Unix socket" in r.text
        r = httpx.get(url + "plots/data?period=hour", timeout=10)  # keep-alive, again
        assert r.status_code == 200 and r.json()["period"] == "hour"
        if not (SETPRIV.exists() and SYSTEM_PYTHON.exists()):
            pytest.skip("another user's connection needs setpriv and /usr/bin/python3")
        other = subprocess.run(
            [str(SETPRIV), "--reuid=65534", "--regid=65534", "--clear-groups",
             str(SYSTEM_PYTHON), "-c",
             f"import urllib.request; urllib.request.urlopen({url!r}, timeout=10)"],
            capture_output=True, text=True, timeout=30)
        assert other.returncode != 0
        assert "RemoteDisconnected" in other.stderr or "reset" in other.stderr, other.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
