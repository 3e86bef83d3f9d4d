"""`--signal=SIG@secs` without `B:`: in Slurm the warning signal reaches the job's
steps (what srun started), never the batch shell. corral's agent signals the job's
whole process group, and a shell dies of an unhandled USR1/USR2 at once, ending the
job before its steps could react (checkpoint, `scontrol requeue`).

So sbatch wraps such a script: the wrapper ignores the signal (an ignored signal
stays ignored across exec, so the batch shell and the commands it runs directly do
not see it, as in Slurm), writes the original script next to itself and execs it.
`srun` inside the job restores the default action for its tasks (CORRAL_STEP_SIGNALS)
so that the steps receive the signal, as Slurm's do.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
from collections.abc import Iterable

from corral.model.errors import InvalidRequest
from corral.model.signals import parse_signal_spec

ENV = "CORRAL_STEP_SIGNALS"
_HARMLESS = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCONT, signal.SIGCHLD}


def step_signal(spec: str | None) -> int | None:
    """The signal number that sbatch should keep away from the batch shell, if any."""
    if not spec:
        return None
    try:
        sig = parse_signal_spec(spec)
    except InvalidRequest:
        return None  # the controller will refuse it with its own message
    if sig.main_only or sig.signum in _HARMLESS:
        return None
    return sig.signum


def wrap(script: str, signum: int) -> str:
    """A /bin/sh script that ignores `signum` and runs `script` (its interpreter line
    and arguments unchanged)."""
    tag = f"CORRAL_BATCH_SCRIPT_{secrets.token_hex(8)}"
    return (
        "#!/bin/sh\n"
        f"# corral sbatch: --signal without B: goes to the job's steps, not to this shell\n"
        f"trap '' {signum}\n"
        f"{ENV}={signum}; export {ENV}\n"
        's="$0.batch"\n'
        f"cat > \"$s\" <<'{tag}'\n"
        f"{script if script.endswith(chr(10)) else script + chr(10)}"
        f"{tag}\n"
        'chmod 700 "$s"\n'
        'exec "$s" "$@"\n'
    )


def restored(env_value: str | None) -> list[int]:
    """The signals srun gives back their default action in its tasks."""
    out = []
    for item in (env_value or "").split(","):
        if item.strip().isdigit():
            out.append(int(item))
    return out


def reset_handlers(signums: Iterable[int]) -> None:
    """In a task about to exec: the default action for each signal."""
    for num in signums:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(num, signal.SIG_DFL)
