"""Real Unix users for end-to-end tests: made with useradd when absent, their commands
run as them with setpriv (so the controller's socket sees their uid).

Their interpreter is the system's python3 (this one, and the checkout, may sit
where they cannot read); copies of corral's source and of click, in a directory
they may read, are put on its path.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

import corral

SYSTEM_PYTHON = "/usr/bin/python3"
SRC = Path(corral.__file__).resolve().parents[1]


@dataclass(frozen=True)
class UnixUser:
    name: str
    uid: int
    gid: int
    home: Path  # a directory of theirs, inside the test's tree


def ensure_user(name: str, root: Path) -> UnixUser:
    if os.getuid() != 0:
        pytest.skip("creating Unix users needs root")
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--user-group", "--shell", "/bin/sh",
                        name], check=True, capture_output=True, timeout=30)
        pw = pwd.getpwnam(name)
    home = root / name
    home.mkdir(mode=0o700)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    return UnixUser(name, pw.pw_uid, pw.pw_gid, home)


def user_pythonpath(root: Path) -> str:
    """A path the users may read, with corral and click (for the CLI)."""
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("setpriv") is None:
        pytest.skip(f"running commands as other users needs {SYSTEM_PYTHON} and setpriv")
    libs = root / "user-libs"
    shutil.copytree(Path(click.__file__).parent, libs / "click")
    shutil.copytree(SRC / "corral", libs / "corral",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for d in [libs, *libs.rglob("*")]:
        d.chmod(0o755 if d.is_dir() else 0o644)
    return str(libs)


def run_as(user: UnixUser | None, argv: list[str], env: dict[str, str], pythonpath: str,
           *, timeout: float = 60, prefix: tuple[str, ...] = ()
           ) -> subprocess.CompletedProcess[str]:
    """`python3 argv…` as `user` (None: as this process, an administrator); `prefix`:
    a command that runs it (e.g. nsenter into another host's namespaces)."""
    if user is None:
        cmd = [*prefix, sys.executable, *argv]
        full = dict(env)
    else:
        cmd = [*prefix, "setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups",
               SYSTEM_PYTHON, *argv]
        full = {**env, "PYTHONPATH": pythonpath, "HOME": str(user.home), "USER": user.name,
                "LOGNAME": user.name}
    proc = subprocess.run(cmd, env=full, capture_output=True, text=True, timeout=timeout,
                          cwd=str(user.home) if user else None)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc
