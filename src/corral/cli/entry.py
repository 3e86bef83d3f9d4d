"""The `corral` command's entry point: a plain submission, a plain listing
(`corral jobs` with flags and user, partition or name filters) and `corral show`
of one job id skip click.

`corral submit` is the command tools run in a loop, so its start-up is most of
its cost. The common, well-formed case (plain string options and flags, --wrap or
a script without #CORRAL directives) is parsed here with the standard library;
anything else (help, typed or unknown options, directives, --json, --wait, any
error to explain) goes to the full command line (corral.cli.main), which parses
it again and answers exactly as it always does. Nothing is sent before the fast
path is sure it can finish, so a submission is never made twice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The options of `corral submit` (corral.cli.directives.job_options and submit's own)
# that take a plain string, and the flags; the same destinations as click gives them.
# tests/cli/test_fast_submit.py checks these against the click definitions.
VALUE_OPTIONS: dict[str, str] = {
    "-J": "name", "--job-name": "name", "-o": "output", "--output": "output",
    "-e": "error", "--error": "error", "-p": "partition", "--partition": "partition",
    "-A": "account", "--account": "account", "--mem": "mem", "-t": "time",
    "--time": "time", "--begin": "begin", "-D": "chdir", "--chdir": "chdir",
    "--constraint": "constraint", "-w": "nodelist", "--nodelist": "nodelist",
    "-x": "exclude", "--exclude": "exclude", "--user": "user", "-a": "array",
    "--array": "array", "-d": "dependency", "--dependency": "dependency",
    "--signal": "signal", "-q": "qos", "--qos": "qos", "--reservation": "reservation",
    "--wrap": "wrap", "--idempotency-key": "idem_key", "--requirements": "requirements",
    "--rank": "rank", "--site": "site", "--prefer-site": "prefer_site",
    "-L": "licenses", "--licenses": "licenses",
    "--gpu-type": "gpu_type",
    "--cpu-bind": "cpu_bind", "--core-type": "core_type",
    "--gres-flags": "gres_flags", "--gres": "gres",
}
FLAG_OPTIONS: dict[str, str] = {
    "-H": "hold", "--hold": "hold", "--no-requeue": "no_requeue",
    "--exclusive": "exclusive", "--parsable": "parsable", "--jdl": "jdl",
    "--credential": "credential",
}


def parse_submit(argv: list[str]) -> tuple[dict[str, Any], str | None, list[str]] | None:
    """-> (options, script, its arguments) as click would read them, or None when
    the command line needs the full parser."""
    opts: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in FLAG_OPTIONS and not eq:
            opts[FLAG_OPTIONS[name]] = True
            i += 1
        elif name in VALUE_OPTIONS:
            if not eq:
                if i + 1 >= len(argv):
                    return None
                value = argv[i + 1]
                i += 1
            if value.startswith("-"):
                return None  # click's reading of such a value is its own
            opts[VALUE_OPTIONS[name]] = value
            i += 1
        else:
            return None  # --, --help, a typed, combined or unknown option
    if i >= len(argv):
        return opts, None, []
    if argv[i] == "-":
        return None
    return opts, argv[i], argv[i + 1:]


def _checked(opts: dict[str, Any]) -> bool:
    """The checks click's callbacks make on these options (corral.cli.directives):
    a value they would refuse is left to click, which says why."""
    if opts.get("name") is not None:
        from corral.model import bounds
        if bounds.name_problem(opts["name"], bounds.MAX_NAME_LEN) is not None:
            return False
    if opts.get("dependency") is not None:
        from corral.model.deps import parse_dependency
        from corral.model.errors import InvalidRequest
        try:
            parse_dependency(opts["dependency"])
        except InvalidRequest:
            return False
    return True


def fast_submit(argv: list[str]) -> int | None:
    """Submit as `corral submit ARGV` would -> exit code, or None (not handled)."""
    parsed = parse_submit(argv)
    if parsed is None:
        return None
    opts, script, args = parsed
    wrap = opts.pop("wrap", None)
    parsable = opts.pop("parsable", False)
    idem_key = opts.pop("idem_key", None)
    if bool(wrap) == bool(script) or opts.get("jdl"):
        return None  # neither or both: the full parser explains; a JDL: it reads it
    if wrap:
        text, name = f"#!/bin/sh\n{wrap}\n", "wrap"
    else:
        assert script is not None
        try:
            text = Path(script).read_text()
        except (OSError, UnicodeDecodeError):
            return None
        from corral.lang.sniff import looks_like_jdl
        if "#CORRAL" in text or looks_like_jdl(text):
            return None  # directives or a JDL: the full parser reads them
        name = Path(script).name
    from corral.cli.request import build_request
    from corral.model.errors import CorralError, InvalidRequest
    if not _checked(opts):
        return None
    try:
        req = build_request(opts, script=text, argv=args, default_name=name)
    except InvalidRequest:
        return None
    from corral.client.api import Client
    try:
        with Client() as client:
            ids = client.submit_many(idempotency_key=idem_key, **req)
    except CorralError as e:
        text = " ".join(str(e).split()) or "failed"
        print(f"corral submit: error: {text}", file=sys.stderr)
        return 1
    if parsable:
        print(min(ids))
    elif req.get("array"):
        print(f"Submitted array job {min(ids)} ({len(ids)} tasks)")
    else:
        print(f"Submitted job {min(ids)}")
    return 0


# `corral jobs`' options the fast path reads (the rest go to click): flags, and
# filters that take one plain value each time they are given.
JOBS_FLAGS: dict[str, str] = {
    "-a": "show_all", "--all": "show_all", "-l": "long_format", "--long": "long_format",
    "-r": "expand", "--array": "expand",
}
JOBS_FILTERS: dict[str, str] = {
    "-u": "user", "--user": "user", "-p": "partition", "--partition": "partition",
    "-n": "name", "--name": "name",
}


def parse_jobs(argv: list[str]) -> dict[str, Any] | None:
    """`corral jobs ARGV`'s options as click would read them, or None when the
    command line needs the full parser."""
    opts: dict[str, Any] = {"user": [], "partition": [], "name": []}
    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=") if argv[i].startswith("--") else (argv[i], "", "")
        if name in JOBS_FLAGS and not eq:
            opts[JOBS_FLAGS[name]] = True
        elif name in JOBS_FILTERS:
            if not eq:
                if i + 1 >= len(argv):
                    return None
                i += 1
                value = argv[i]
            if value.startswith("-"):
                return None  # click's reading of such a value is its own
            opts[JOBS_FILTERS[name]].append(value)
        else:
            return None  # --json, --help, ids, states, a combined or unknown option
        i += 1
    return opts


def fast_jobs(argv: list[str]) -> int | None:
    """List as `corral jobs ARGV` would -> exit code, or None (not handled: the
    full command line asks again and explains any error its way)."""
    opts = parse_jobs(argv)
    if opts is None:
        return None
    from corral.cli.listing import job_table
    from corral.client.api import Client
    from corral.model.errors import CorralError
    try:
        with Client() as client:
            found = client.jobs(user=opts["user"], partition=opts["partition"],
                                name=opts["name"], expand_arrays=bool(opts.get("expand")),
                                brief=True)
    except CorralError:
        return None
    sys.stdout.write(job_table(found, long_format=bool(opts.get("long_format")),
                               show_final=bool(opts.get("show_all"))) + "\n")
    return 0


def fast_show(argv: list[str]) -> int | None:
    """Print what `corral show ARGV` would for one plain job id -> exit code, or
    None (not handled: anything else, and any error, the full command line
    answers its way)."""
    if len(argv) != 1 or not argv[0].isascii() or not argv[0].isdigit():
        return None
    job_id = int(argv[0])
    if str(job_id) != argv[0] or not 0 < job_id < 2**31:
        return None  # a leading zero, 0, too large: the full parser says why
    from corral.cli.listing import show_text
    from corral.client.api import Client
    from corral.model.errors import CorralError
    try:
        with Client() as client:
            job = client.job(job_id)
    except CorralError:
        return None
    sys.stdout.write(show_text(job))
    return 0


# the commands with a path that skips click: ARGV after the command -> exit code,
# or None (the full command line answers)
FAST_PATHS: dict[str, Callable[[list[str]], int | None]] = {
    "submit": fast_submit, "jobs": fast_jobs, "show": fast_show,
}


def main(args: list[str] | None = None) -> None:
    argv = sys.argv[1:] if args is None else args
    fast = FAST_PATHS.get(argv[0]) if argv else None
    if fast is not None:
        try:
            code = fast(argv[1:])
            if code is not None:
                sys.stdout.flush()
                sys.exit(code)
        except KeyboardInterrupt:
            sys.exit(130)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
    from corral.cli.main import main as full
    full(argv)
