"""The test command itself: a quick subset for development, slow tests marked."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, SLOW


def test_the_test_command_has_a_quick_mode() -> None:
    proc = subprocess.run([str(REPO / "scripts" / "test"), "--help"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0
    assert "scripts/test --quick" in proc.stdout and "pytest" not in proc.stdout.split()[0]
    proc = subprocess.run([str(REPO / "scripts" / "test"), "--quick", "tests/x.py"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "--quick takes no other arguments" in proc.stderr
    script = (REPO / "scripts" / "test").read_text()
    assert '-m "not slow and not pg"' in script and '"$rc" -eq 5' in script


def _collect(*args: str) -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", *args, "tests"], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:]
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_every_slow_entry_names_tests_and_marks_them() -> None:
    everything = _collect()
    for entry in SLOW:
        module = entry.split("::")[0]
        assert (REPO / module).is_file(), f"{module} does not exist"
        if any(line.startswith(module + "::") for line in everything):  # not import-skipped
            assert any(line.startswith(entry) for line in everything), f"{entry}: no such test"
    marked = set(_collect("-m", "slow"))  # the list's, and any marked in their module
    listed = {line for line in everything if line.startswith(SLOW)}
    assert listed and listed <= marked
