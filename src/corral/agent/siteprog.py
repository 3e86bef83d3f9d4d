"""Running one of the site's programs (health check, prolog, epilog) with a timeout.

The program runs as the agent's own user in a new session, with stdin from
/dev/null and its stdout and stderr captured together; its verdict is its exit
status, its message the first line it printed. When the time is up its whole
process group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from dataclasses import dataclass
from typing import Any

from corral.agent.spawn import DEFAULT_PATH

MAX_OUTPUT_BYTES = 64 * 1024  # read of what it printed
MAX_MESSAGE_CHARS = 500


@dataclass(frozen=True, slots=True)
class ProgramResult:
    ok: bool
    exit_code: int | None  # None: killed by a signal, timed out or could not start
    first_line: str  # its first non-empty line of output ("" if none)
    message: str  # one line saying what happened (for logs and drain reasons)


def program_of(config: dict[str, Any], key: str) -> str | None:
    """An absolute program path from the controller's `agent` settings, else None."""
    value = config.get(key)
    return value if isinstance(value, str) and value.startswith("/") else None


def seconds_of(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


def base_environment(node: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH") or DEFAULT_PATH, "HOME": "/",
            "SLURMD_NODENAME": node, "CORRAL_NODENAME": node}


def _first_line(output: bytes) -> str:
    for raw in output.decode("utf-8", "replace").splitlines():
        line = "".join(c for c in raw if c.isprintable()).strip()
        if line:
            return line[:MAX_MESSAGE_CHARS]
    return ""


async def run_program(what: str, program: str, env: dict[str, str],
                      timeout_s: float) -> ProgramResult:
    """Run `program` (no arguments); `what` names it in messages ("prolog /x/p").
    Its output goes to an unlinked file, not a pipe: a descendant that keeps it open
    does not hold up the verdict."""
    with tempfile.TemporaryFile() as out:
        try:
            proc = await asyncio.create_subprocess_exec(
                program, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT, env=env, cwd="/", start_new_session=True)
        except OSError as exc:
            return ProgramResult(False, None, "",
                                 f"{what} cannot start: {exc.strerror or exc}")
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout=timeout_s)
        except TimeoutError:
            timed_out = True
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        out.seek(0)
        output = out.read(MAX_OUTPUT_BYTES)
    line = _first_line(output)
    code = proc.returncode
    if timed_out:
        return ProgramResult(False, None, line, f"{what} timed out after {timeout_s:g} s")
    if code == 0:
        return ProgramResult(True, 0, line, f"{what} passed")
    how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited {code}"
    detail = f": {line}" if line else ""
    return ProgramResult(False, code if code is not None and code >= 0 else None, line,
                         f"{what} {how}{detail}")
