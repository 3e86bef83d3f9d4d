"""What every front end shares: the client, error lines and exit codes."""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Callable
from typing import NoReturn

from corral.client import Client
from corral.compat.options import OptionError
from corral.model.errors import CorralError


class Exit(Exception):
    """Leave with this code after printing the message (if any) as `prog: error: …`."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def client() -> Client:
    return Client()


def me() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def warn(prog: str, message: str) -> None:
    print(f"{prog}: warning: {message}", file=sys.stderr)


def fail(message: str, code: int = 1) -> NoReturn:
    raise Exit(code, message)


def with_shell_lines(script: str, lines: str) -> str:
    """A shell script with `lines` run first (a front end's variables: JOB_ID, LSB_JOBID,
    …), after its #! line; a script for another interpreter is left as it is."""
    first, _, rest = script.partition("\n")
    if first.startswith("#!"):
        if not any(sh in first for sh in ("sh", "bash", "zsh", "ksh", "dash")):
            return script
        return f"{first}\n{lines}{rest}"
    return f"#!/bin/sh\n{lines}{script}"


def run(prog: str, body: Callable[[list[str]], int | None],
        argv: list[str] | None = None, *, error_prefix: str | None = None) -> NoReturn:
    """Call body(argv) and exit: 0, its code, or 1 after `prog: error: message`."""
    prefix = f"{prog}: error: " if error_prefix is None else error_prefix
    try:
        code = body(sys.argv[1:] if argv is None else argv) or 0
    except OptionError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        print(f'Try "{prog} --help" for more information', file=sys.stderr)
        code = 1
    except Exit as e:
        if e.message:
            print(f"{prefix}{e.message}", file=sys.stderr)
        code = e.code
    except CorralError as e:
        print(f"{prefix}{e}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 0
    sys.stdout.flush()
    sys.exit(code)
