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
            f"corral {args[0]}: error: controller: nothing answers at "
            f"unix://{tmp_path}/corral.sock (is it up? try 'corral up')"]


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    for args, line in (
            (["submit"], "corral submit: error: give a script to submit, or --wrap 'COMMAND'"),
            (["show", "x"], "corral show: error: JOB: 'x' is not a job id"),
            (["show", "57_5x"], "corral show: error: JOB: '57_5x' is not a job id"),
            (["jobs", "--bogus"], "corral jobs: error: No such option '--bogus'"),
            (["cancel"], "corral cancel: error: Missing argument 'JOBS...'"),
            (["nosuch"], "corral: error: No such command 'nosuch'"),
            (["node", "drain", "n1"], "corral node drain: error: Missing option '-r'"),
            (["submit", "-c", "x", "--wrap", "x"], "corral submit: error: Invalid value for "),
            (["submit", "--wrap", "x", "script.sh"],
             "corral submit: error: give a script or --wrap, not both")):
        proc = corral(tmp_path, *args)
        assert proc.returncode == 2, (args, proc)
        assert len(proc.stderr.splitlines()) == 1, (args, proc.stderr)
        assert proc.stderr.startswith(line), (args, proc.stderr)


def test_badly_formed_values_are_usage_errors_naming_the_field(tmp_path: Path) -> None:
    for args, text in ((["--mem", "lots"], "mem: 'lots' is not a memory size"),
                       (["-t", "1:2:3:4"], "time: '1:2:3:4' is not a duration"),
                       (["--begin", "someday"], "begin: 'someday'")):
        proc = corral(tmp_path, "submit", *args, "--wrap", "true")
        assert proc.returncode == 2, (args, proc)
        assert proc.stderr.startswith(f"corral submit: error: {text}"), proc.stderr
        assert len(proc.stderr.splitlines()) == 1
    proc = corral(tmp_path, "update", "3", "--mem", "lots")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc


def test_bad_directive_values_name_the_scripts_line(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\n#CORRAL -J ok\n\n#CORRAL -c 2 --mem lots\ntrue\n")
    proc = corral(tmp_path, "submit", str(script))
    assert proc.returncode == 2, proc
    assert proc.stderr.splitlines() == [
        f"corral submit: error: {script}: line 4: mem: 'lots' is not a memory size "
        "(use e.g. 512M, 4G)"]
    script.write_text("#!/bin/sh\n#CORRAL -t forever\ntrue\n")
    proc = corral(tmp_path, "submit", str(script))
    assert proc.returncode == 2 and f"{script}: line 2: time: 'forever'" in proc.stderr, proc


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "corral.toml").write_text("[controller]\nbogus = 1\n")
    proc = corral(tmp_path, "up")
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
    assert "unknown key 'controller.bogus'" in proc.stderr and "Traceback" not in proc.stderr


def test_values_out_of_bounds_are_usage_errors(tmp_path: Path) -> None:
    """Checked against corral.model.bounds before anything is sent (no controller here)."""
    for args, words in [
        (["--priority", str(10**400)], "--priority"),
        (["--nice", "-10001"], "--nice"),
        (["-N", "100001"], "--nodes"),
        (["-t", "99999999999"], "is over the maximum of 2147483647 seconds"),
        (["--mem", "99999999T"], "is over the maximum of 2147483647 MiB"),
        (["-d", f"afterok:{2**63}"], "is over the maximum of 2147483647"),
        (["-J", "a\x01b"], "contains the control character U+0001"),
    ]:
        proc = corral(tmp_path, "submit", *args, "--wrap", "true")
        assert proc.returncode == 2, (args, proc)
        assert words in proc.stderr and "Traceback" not in proc.stderr, (args, proc.stderr)
    proc = corral(tmp_path, "update", "5", "--priority", "-1")
    assert proc.returncode == 2 and "--priority" in proc.stderr
