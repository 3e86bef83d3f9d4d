"""The CLI without a controller: usage errors exit 2, failures exit 1, one line each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def corral(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_STATE_DIR"] = str(tmp_path)
    return subprocess.run([sys.executable, "-m", "corral.cli", *args], env=env,
                          capture_output=True, text=True, timeout=30)


def test_nothing_answers(tmp_path: Path) -> None:
    for args in (["jobs"], ["submit", "--wrap", "true"], ["show", "1"], ["status"]):
        proc = corral(tmp_path, *args)
        assert proc.returncode == 1, proc
        assert "Traceback" not in proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"Error: controller: nothing answers at unix://{tmp_path}/corral.sock "
            "(is it up? try 'corral up')"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    for args in (["submit"], ["show", "x"], ["jobs", "--bogus"], ["cancel"], ["nosuch"],
                 ["submit", "--wrap", "x", "script.sh"]):
        proc = corral(tmp_path, *args)
        assert proc.returncode == 2, (args, proc)
        assert "Traceback" not in proc.stderr and "Error:" in proc.stderr


def test_bad_values_exit_1_naming_the_field(tmp_path: Path) -> None:
    proc = corral(tmp_path, "submit", "--mem", "lots", "--wrap", "true")
    assert proc.returncode == 1 and "mem: 'lots' is not a memory size" in proc.stderr
    proc = corral(tmp_path, "submit", "-t", "1:2:3:4", "--wrap", "true")
    assert proc.returncode == 1 and "time: '1:2:3:4' is not a duration" in proc.stderr
    proc = corral(tmp_path, "submit", "--begin", "someday", "--wrap", "true")
    assert proc.returncode == 1 and "begin: 'someday'" in proc.stderr


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_text("[controller]\nbogus = 1\n")
    proc = corral(tmp_path, "up")
    assert proc.returncode == 1
    assert "unknown key 'controller.bogus'" in proc.stderr and "Traceback" not in proc.stderr
