"""SQLite keeps one controller per database file: a second one refuses in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.cluster import make_cluster


def test_a_second_controller_on_the_same_sqlite_file_refuses(tmp_path: Path) -> None:
    c = make_cluster(tmp_path / "one")
    try:
        other = tmp_path / "two"
        other.mkdir()
        env = {**c.env, "CORRAL_STATE_DIR": str(other),
               "CORRAL_DATABASE_URL": f"sqlite:///{c.state / 'corral.db'}"}
        proc = subprocess.run([sys.executable, "-m", "corral.api.server"], env=env,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 1, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("Error:")]
        db = c.state / "corral.db"
        assert lines == [f"Error: database {db}: another controller uses it (it holds "
                         f"{db}.controller.lock); SQLite runs one controller, use "
                         f"PostgreSQL for a standby"], proc.stderr
        assert "Traceback" not in proc.stderr
        with c.client() as cl:  # the first one goes on
            assert cl.status()["version"]
        assert os.path.exists(c.state / "corral.sock")
    finally:
        c.down()
