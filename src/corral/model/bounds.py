"""The ranges of every number and the shape of every name that enters corral.

One table, used by the REST schemas (pydantic limits in corral.api.schemas), by the
services (submit, update, agent registrations) and listed in docs/specs/05-rest-api.md
§6. The integer limits fit the store's 32-bit columns (PostgreSQL INTEGER), so that
nothing accepted can fail to be stored; times are finite epoch seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from corral.model.errors import InvalidRequest

if TYPE_CHECKING:  # (the CLI parses job ids without the job records' module)
    from corral.model.job import JobSpec

INT32_MAX = 2**31 - 1

# ---- numbers: (minimum, maximum), both included ---------------------------------------
JOB_ID = (1, INT32_MAX)  # job ids, dependency targets, array job ids
STEP_ID = (0, INT32_MAX)
TIME_LIMIT_S = (0, INT32_MAX)  # 0: unlimited; else up to about 68 years
NODES_PER_JOB = (1, 100_000)
CPUS_PER_NODE = (1, 100_000)  # a job's per node, and a node's own
MEM_MB = (1, INT32_MAX)  # MiB: a job's per node, and a node's own (about 2 PiB)
GPUS_PER_NODE = (0, 1024)
NICE = (-10_000, 10_000)
PRIORITY = (0, 2**32 - 1)  # an administrator's fixed priority (Slurm's 32 bits)
EPOCH_S = (0.0, 253_402_300_799.0)  # times: up to 9999-12-31T23:59:59Z
EXIT_CODE = (0, 255)
SIGNAL = (1, 64)
PID = (0, INT32_MAX)
MEASURE = (0.0, 1e15)  # what agents measure: CPU seconds, MiB of memory
WAIT_S = (0.0, 3600.0)

# ---- names and texts ------------------------------------------------------------------
MAX_NAME_LEN = 200  # job and step names
MAX_IDENT_LEN = 255  # partitions, accounts, QOS, reservations, users, nodes
MAX_FEATURE_LEN = 128
MAX_FEATURES = 256
MAX_PATH_LEN = 4096
MAX_SCRIPT_BYTES = 4 * 1024 * 1024
MAX_JDL_BYTES = 1024 * 1024  # the JDL a job was submitted from (kept with it)
MAX_ENV_ENTRIES = 10_000
MAX_ARGS = 100_000

# A node name is a host name: letters, digits, '.', '_', '-'; starting with a letter
# or a digit.
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def shown(value: object, limit: int = 60) -> str:
    """A value as a message quotes it: its repr, cut short (one line, whatever it is)."""
    try:
        text = repr(value)
    except ValueError:  # an integer too long to print
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits" \
            if isinstance(value, int) else "a value that cannot be shown"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def text_problem(value: str) -> str | None:
    """What makes a free text (a script, an argument, a path) unstorable, if anything:
    a NUL character or an unpaired surrogate."""
    m = _UNSTORABLE.search(value)
    return None if m is None else f"contains the character U+{ord(m.group()):04X}"


def storable(value: str) -> str:
    """An agent's or a program's message made storable: each NUL or lone surrogate
    becomes U+FFFD (such text is kept, not refused: its program is not at fault)."""
    return _UNSTORABLE.sub("\ufffd", value)


def name_problem(value: str, max_len: int) -> str | None:
    """What is wrong with a name, if anything: 1 to max_len characters, none of them
    a control character."""
    if not value:
        return "is empty"
    if len(value) > max_len:
        return f"has {len(value)} characters, over the limit of {max_len}"
    m = _CONTROL.search(value)
    return None if m is None else f"contains the control character U+{ord(m.group()):04X}"


def node_name_problem(value: str) -> str | None:
    problem = name_problem(value, MAX_IDENT_LEN)
    if problem is None and not NODE_NAME.fullmatch(value):
        problem = "is not a host name (letters, digits, '.', '_' and '-')"
    return problem


def int_problem(value: int, bounds: tuple[int, int]) -> str | None:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        return "is not an integer"
    if value < lo:
        return f"is below the minimum of {lo}"
    if value > hi:
        return f"is over the maximum of {hi}"
    return None


def float_problem(value: float, bounds: tuple[float, float]) -> str | None:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    if not math.isfinite(value):
        return "is not a finite number"
    if value < lo:
        return f"is below the minimum of {lo:g}"
    if value > hi:
        return f"is over the maximum of {hi:g}"
    return None


def _fail(field: str, value: object, problem: str | None) -> None:
    if problem is not None:
        raise InvalidRequest(f"{field}: {shown(value)} {problem}")


def check_int(field: str, value: int, bounds: tuple[int, int]) -> None:
    _fail(field, value, int_problem(value, bounds))


def check_float(field: str, value: float, bounds: tuple[float, float]) -> None:
    _fail(field, value, float_problem(value, bounds))


def check_name(field: str, value: str, max_len: int = MAX_IDENT_LEN) -> None:
    if not isinstance(value, str):
        _fail(field, value, "is not a string")
    _fail(field, value, name_problem(value, max_len))


def check_text(field: str, value: str, max_len: int | None = None) -> None:
    if not isinstance(value, str):
        _fail(field, value, "is not a string")
    if max_len is not None and len(value) > max_len:
        _fail(field, value, f"has {len(value)} characters, over the limit of {max_len}")
    _fail(field, value, text_problem(value))


def _storable_environment(env: Mapping[str, str]) -> bool:
    """Every key a string of at most MAX_PATH_LEN characters, every value a string, no
    NUL or lone surrogate in any: what check_text says of each, in a few C loops."""
    if not env:
        return True
    try:
        keys, values = "\n".join(env), "\n".join(env.values())
    except TypeError:  # a key or value that is not a string
        return False
    return (max(map(len, env)) <= MAX_PATH_LEN and _UNSTORABLE.search(keys) is None
            and _UNSTORABLE.search(values) is None)


def check_spec(spec: JobSpec) -> None:
    """Every field of a job's spec within its range (the names, numbers and texts that
    reach the store, the scheduler and the agents); the first one that is not is named."""
    check_name("name", spec.name, MAX_NAME_LEN)
    for field in ("working_dir", "stdout"):
        check_text(field, getattr(spec, field), MAX_PATH_LEN)
    if spec.stderr is not None:
        check_text("stderr", spec.stderr, MAX_PATH_LEN)
    if spec.script is not None:
        check_text("script", spec.script)
    if len(spec.argv) > MAX_ARGS:
        _fail("argv", f"{len(spec.argv)} arguments", f"is over the limit of {MAX_ARGS}")
    for arg in spec.argv:
        check_text("argv", arg)
    if len(spec.environment) > MAX_ENV_ENTRIES:
        _fail("environment", f"{len(spec.environment)} entries",
              f"is over the limit of {MAX_ENV_ENTRIES}")
    if not _storable_environment(spec.environment):
        for key, value in spec.environment.items():  # which one, and why
            check_text("environment", key, MAX_PATH_LEN)
            check_text(f"environment[{key}]", value)
    for field in ("partition", "account", "qos", "reservation"):
        value = getattr(spec, field)
        if value is not None:
            check_name(field, value)
    if len(spec.features) > MAX_FEATURES:
        _fail("features", f"{len(spec.features)} features", f"is over the limit of {MAX_FEATURES}")
    for feature in spec.features:
        check_name("features", feature, MAX_FEATURE_LEN)
    for field in ("array", "dependency", "signal", "requirements", "rank"):
        value = getattr(spec, field)
        if value is not None:
            check_text(field, value, 10_000)
    if spec.jdl is not None:
        check_text("jdl", spec.jdl, MAX_JDL_BYTES)
    check_int("nodes", spec.nodes, NODES_PER_JOB)
    check_int("cpus_per_node", spec.cpus_per_node, CPUS_PER_NODE)
    check_int("gpus_per_node", spec.gpus_per_node, GPUS_PER_NODE)
    check_int("nice", spec.nice, NICE)
    if spec.mem_mb_per_node is not None:
        check_int("mem_mb_per_node", spec.mem_mb_per_node, MEM_MB)
    if spec.time_limit_s is not None:
        check_int("time_limit_s", spec.time_limit_s, TIME_LIMIT_S)
    if spec.priority is not None:
        check_int("priority", spec.priority, PRIORITY)
    if spec.t_begin is not None:
        check_float("t_begin", spec.t_begin, EPOCH_S)


def check_node(name: str, cpus: int, mem_mb: int, gpus: int, features: Sequence[str]) -> None:
    """A node as its agent registers it: a host name, and sizes within range."""
    _fail("node", name, node_name_problem(name) if isinstance(name, str) else "is not a string")
    check_int("cpus", cpus, CPUS_PER_NODE)
    check_int("mem_mb", mem_mb, MEM_MB)
    check_int("gpus", gpus, GPUS_PER_NODE)
    if len(features) > MAX_FEATURES:
        _fail("features", f"{len(features)} features", f"is over the limit of {MAX_FEATURES}")
    for feature in features:
        check_name("features", feature, MAX_FEATURE_LEN)
