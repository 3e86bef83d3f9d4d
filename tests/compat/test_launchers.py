"""The launchers `corral compat install` writes skip the site start-up, yet still
run a command that needs site-packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from corral.compat.install import launcher_text


def _run(tmp_path: Path, module: str, body: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / f"{module}.py").write_text(body)
    launcher = tmp_path / "cmd"
    launcher.write_text(launcher_text(module, url="unix:///nowhere.sock"))
    launcher.chmod(0o755)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    return subprocess.run([str(launcher)], env=env, capture_output=True, text=True,
                          timeout=60)


def test_a_launcher_starts_without_the_site_start_up(tmp_path: Path) -> None:
    proc = _run(tmp_path, "probe_bare", "import sys\n"
                "import corral.client.api\n"
                "def main():\n"
                "    print('site' in sys.modules, corral.client.api.BOUND_URL)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "unix:///nowhere.sock"]
    assert launcher_text("x").startswith(f"#!{sys.executable} -S\n")


def test_a_launcher_falls_back_to_site_packages(tmp_path: Path) -> None:
    proc = _run(tmp_path, "probe_site", "import sys\n"
                "import click  # lives in site-packages\n"
                "def main():\n"
                "    print('site' in sys.modules, click.__name__)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "click"]
