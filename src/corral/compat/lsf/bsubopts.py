"""bsub's options and `#BSUB` lines read into a corral submission request.

LSF's options are single-dash words (`-n 4`, `-oo out`, `-Is`); a one-letter option
may carry its value attached (`-n4`). What each one becomes is in docs/compat.md
("LSF"). Errors are one line naming the option, the value and what is allowed.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from corral.model.bounds import CPUS_PER_NODE, GPUS_PER_NODE, MEM_MB, TIME_LIMIT_S, shown
from corral.model.errors import InvalidRequest

# option -> takes a value
ARITY: dict[str, bool] = {
    **dict.fromkeys(["-n", "-W", "-M", "-q", "-J", "-o", "-oo", "-e", "-eo", "-R", "-w",
                     "-cwd", "-P", "-G", "-b", "-m", "-env", "-gpu", "-i", "-is", "-a",
                     "-app", "-c", "-C", "-D", "-E", "-Ep", "-F", "-f", "-g", "-k", "-L",
                     "-Lp", "-p", "-S", "-sla", "-sp", "-t", "-u", "-U", "-v", "-We", "-Jd",
                     "-outdir", "-ptl", "-eptl", "-ext", "-s", "-T", "-ar", "-rnc",
                     "-alloc_flags", "-data", "-datagrp", "-notify", "-pack", "-smt",
                     "-stage", "-nnodes", "-jsdl", "-jsdl_strict", "-clusters"], True),
    **dict.fromkeys(["-H", "-x", "-K", "-I", "-Ip", "-Is", "-IS", "-ISp", "-ISs", "-IX",
                     "-B", "-N", "-r", "-rn", "-hl", "-tty", "-ul", "-XF", "-ti", "-Ne",
                     "-h", "-V", "-K_hard"], False),
}
# one-letter options whose value may be attached (-n4)
ATTACHED = {"-n", "-q", "-W", "-M", "-J", "-o", "-e", "-P", "-m", "-R", "-w"}
INTERACTIVE = {"-I", "-Ip", "-Is", "-IS", "-ISp", "-ISs", "-IX"}
# accepted and without effect in corral (said once on stderr)
IGNORED = {"-G", "-app", "-c", "-C", "-D", "-E", "-Ep", "-F", "-f", "-g", "-k", "-L",
           "-Lp", "-S", "-sla", "-sp", "-t", "-u", "-U", "-v", "-We", "-Jd", "-ptl",
           "-eptl", "-ext", "-s", "-T", "-ar", "-rnc", "-alloc_flags", "-data", "-datagrp",
           "-notify", "-pack", "-smt", "-stage", "-B", "-N", "-rn", "-hl", "-tty", "-ul",
           "-XF", "-ti", "-Ne", "-i", "-is", "-a", "-outdir", "-clusters", "-r", "-jsdl",
           "-jsdl_strict", "-K_hard", "-p"}
_MEM_UNIT_MB = {"K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0 ** 2, "P": 1024.0 ** 3,
                "E": 1024.0 ** 4}
_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTPE])B?)?\s*$", re.IGNORECASE)
_SECTION = re.compile(r"(select|order|rusage|span|same|cu|affinity)\s*\[([^\]]*)\]")
_ARRAY = re.compile(r"^(.*)\[([0-9][0-9,:\-]*)\](?:%(\d+))?$")
_DEP = re.compile(r"^\s*(done|ended|exit|started|post_done|post_err)?\s*\(?\s*"
                  r"(\"[^\"]*\"|'[^']*'|[^(),\s]+)\s*(?:,\s*([^)]*))?\)?\s*$")
DEP_KIND = {"done": "afterok", "post_done": "afterok", "ended": "afterany",
            "exit": "afternotok", "post_err": "afternotok", "started": "after"}


class BsubError(InvalidRequest):
    """A bad option or #BSUB line: one line, said as bsub says it."""


@dataclass
class Parsed:
    """Options in order (later ones win), the command words, and the #BSUB source."""

    opts: list[tuple[str, str | None]] = field(default_factory=list)
    command: list[str] = field(default_factory=list)

    def last(self, name: str) -> str | None:
        for opt, value in reversed(self.opts):
            if opt == name:
                return value
        return None

    def has(self, name: str) -> bool:
        return any(opt == name for opt, _ in self.opts)

    def all(self, name: str) -> list[str]:
        return [v for o, v in self.opts if o == name and v is not None]


def parse(argv: list[str]) -> Parsed:
    """bsub's command line: options up to the first word that is not one."""
    out = Parsed()
    i = 0
    while i < len(argv):
        word = argv[i]
        if not word.startswith("-") or word == "-":
            out.command = argv[i:]
            return out
        if word == "--":
            out.command = argv[i + 1:]
            return out
        if word in ARITY:
            if ARITY[word]:
                if i + 1 >= len(argv):
                    raise BsubError(f"{word}: option requires an argument")
                out.opts.append((word, argv[i + 1]))
                i += 2
            else:
                out.opts.append((word, None))
                i += 1
            continue
        if len(word) > 2 and word[:2] in ATTACHED:  # -n4, -qshort
            out.opts.append((word[:2], word[2:]))
            i += 1
            continue
        raise BsubError(f"{word}: Illegal option")
    return out


def directives(script: str) -> list[str]:
    """The words of the script's #BSUB lines (up to the first command line, as LSF)."""
    words: list[str] = []
    for line in script.splitlines():
        text = line.strip()
        if not text or (text.startswith("#") and not text.startswith("#BSUB")):
            continue
        if not text.startswith("#BSUB"):
            break
        try:
            words.extend(shlex.split(text[5:], comments=True))
        except ValueError as e:
            raise BsubError(f"#BSUB line {shown(text)}: {e}") from None
    return words


def lsf_mem_unit() -> str | None:
    """LSF_UNIT_FOR_LIMITS from lsf.conf ($LSF_ENVDIR, else /etc), as LSF reads it;
    None when not set (then -M is in KB and rusage[mem] in MB, LSF's defaults)."""
    for var in ("LSF_ENVDIR", "LSF_CONFDIR"):
        if os.environ.get(var):
            conf = Path(os.environ[var]) / "lsf.conf"
            break
    else:
        conf = Path("/etc/lsf.conf")
    try:
        lines = conf.read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        key, _, value = line.strip().partition("=")
        if key.strip() == "LSF_UNIT_FOR_LIMITS" and value.strip():
            return value.strip()[0].upper()
    return None


def mem_mb(option: str, text: str, unit: str) -> int:
    """`-M 4000` (in LSF_UNIT_FOR_LIMITS), `-M 4GB`, `rusage[mem=2G]` -> MiB."""
    m = _MEM.match(text)
    if not m:
        raise BsubError(f"{option}: {shown(text)} is not a memory size (e.g. 4000, 4GB)")
    value = float(m.group(1)) * _MEM_UNIT_MB[(m.group(2) or unit).upper()]
    if value > MEM_MB[1]:
        raise BsubError(f"{option}: {shown(text)} is over the maximum of {MEM_MB[1]} MiB")
    return max(1, math.ceil(value))


def run_limit_s(text: str) -> int:
    """-W [hour:]minute[/host]: the run limit."""
    body = text.split("/", 1)[0].strip()
    parts = body.split(":")
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise BsubError(f"-W: {shown(text)} is not a run limit ([hour:]minute)")
    seconds = int(parts[-1]) * 60 + (int(parts[0]) * 3600 if len(parts) == 2 else 0)
    if seconds > TIME_LIMIT_S[1]:
        raise BsubError(f"-W: {shown(text)} is over the maximum of {TIME_LIMIT_S[1]} s")
    return seconds


def begin_time(text: str, now: datetime | None = None) -> float:
    """-b [[[year:]month:]day:]hour:minute: the first time at or after now."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 5 or not all(p.isdigit() for p in parts):
        raise BsubError(f"-b: {shown(text)} is not a time ([[[year:]month:]day:]hour:minute)")
    now = now or datetime.now()
    nums = [int(p) for p in parts]
    year, month, day = now.year, now.month, now.day
    hour, minute = nums[-2], nums[-1]
    if len(nums) >= 3:
        day = nums[-3]
    if len(nums) >= 4:
        month = nums[-4]
    if len(nums) == 5:
        year = nums[0]
    try:
        t = datetime(year, month, day, hour, minute)
    except ValueError:
        raise BsubError(f"-b: {shown(text)} is not a valid date and time") from None
    if t < now and len(nums) < 5:  # the next such time
        try:
            if len(nums) == 2:
                t += timedelta(days=1)
            elif len(nums) == 3:
                t = t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)
            else:
                t = t.replace(year=t.year + 1)
        except ValueError:
            raise BsubError(f"-b: {shown(text)} is not a valid date and time") from None
    return t.timestamp()


@dataclass
class Shape:
    """What -n, -R and -gpu ask for."""

    slots: int = 1
    ptile: int | None = None  # slots per host (span[ptile=N])
    one_host: bool = False  # span[hosts=1]
    mem_mb: int | None = None  # rusage[mem=...]
    gpus: int = 0
    features: list[str] = field(default_factory=list)


def slots(text: str) -> int:
    """-n N or -n min,max (the least is asked)."""
    first = text.split(",", maxsplit=1)[0].strip()
    if not first.isdigit() or not CPUS_PER_NODE[0] <= int(first) <= CPUS_PER_NODE[1]:
        raise BsubError(f"-n: {shown(text)} is not a number of tasks "
                        f"({CPUS_PER_NODE[0]}-{CPUS_PER_NODE[1]})")
    return int(first)


def resources(texts: list[str], shape: Shape, unit: str | None, warn: list[str]) -> None:
    """-R strings: rusage[mem=..., ngpus...], span[hosts=1|ptile=N], select[features]."""
    for text in texts:
        sections = _SECTION.findall(text)
        if not sections and text.strip():
            sections = [("select", text)]
        for name, body in sections:
            if name == "rusage":
                for item in re.split(r"[,:]", body):
                    key, _, value = item.partition("=")
                    key = key.strip()
                    if key == "mem":
                        shape.mem_mb = mem_mb("-R rusage[mem]", value.split("/")[0], unit or "M")
                    elif key in ("ngpus", "ngpus_physical", "gpu", "gpus"):
                        shape.gpus = gpus("-R rusage", value)
                    elif key and key not in {"duration", "decay"}:
                        warn.append(f"-R rusage[{key}] is ignored by corral")
            elif name == "span":
                key, _, value = body.partition("=")
                if key.strip() == "hosts" and value.strip() == "1":
                    shape.one_host = True
                elif key.strip() == "ptile" and value.strip().isdigit() and int(value) > 0:
                    shape.ptile = int(value)
                else:
                    raise BsubError(f"-R span[{body}]: corral knows span[hosts=1] and "
                                    "span[ptile=N]")
            elif name == "select":
                for raw in re.split(r"&&", body):
                    term = raw.strip().strip("()").strip()
                    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", term):
                        shape.features.append(term)
                    elif term:
                        warn.append(f"-R select term {shown(term)} is ignored by corral")
            else:
                warn.append(f"-R {name}[...] is ignored by corral")


def gpus(option: str, text: str) -> int:
    value = text.strip()
    if not value.isdigit() or not GPUS_PER_NODE[0] <= int(value) <= GPUS_PER_NODE[1]:
        raise BsubError(f"{option}: {shown(text)} is not a number of GPUs "
                        f"({GPUS_PER_NODE[0]}-{GPUS_PER_NODE[1]})")
    return int(value)


def gpu_option(text: str) -> int:
    """-gpu "num=2:mode=shared" or -gpu - (the default: one)."""
    if text.strip() == "-":
        return 1
    for item in text.split(":"):
        key, _, value = item.partition("=")
        if key.strip() == "num":
            return gpus("-gpu num", value.split("/")[0])
    return 1


def array(text: str) -> tuple[str, str | None]:
    """-J "name[1-10:2]%3" -> ("name", "1-10:2%3"); a plain name -> (name, None)."""
    m = _ARRAY.match(text)
    if not m:
        return text, None
    spec = m.group(2)
    return m.group(1), spec + (f"%{m.group(3)}" if m.group(3) else "")


def dependency(text: str, resolve_name: Any) -> str:
    """-w "done(12) && ended(name)" -> corral's "afterok:12,afterany:...". LSF's ||
    and ! are refused (corral's dependencies are "all of")."""
    if "||" in text or re.search(r"!\s*\w+\s*\(", text):
        raise BsubError(f"-w: {shown(text)}: corral takes conditions joined by && "
                        "(all of); || and ! are not supported")
    out: list[str] = []
    for cond in text.split("&&"):
        m = _DEP.match(cond.strip().strip("()") if cond.count("(") != cond.count(")")
                       else cond)
        if not m or not m.group(2):
            raise BsubError(f"-w: {shown(cond.strip())} is not a dependency condition "
                            "(done|ended|exit|started(job ID or \"name\"))")
        kind = DEP_KIND[m.group(1) or "done"]
        target = m.group(2).strip("\"'")
        am = re.fullmatch(r"(\d+)(?:\[(\d+)\])?", target)
        if am:
            ids = [am.group(1) + (f"_{am.group(2)}" if am.group(2) else "")]
        else:
            ids = resolve_name(target)
            if not ids:
                raise BsubError(f"-w: {shown(target)}: no job of that name")
        out.append(f"{kind}:" + ":".join(ids))
    return ",".join(out)


def output_path(text: str, default_name: str) -> str:
    """%J -> the job id (an array's), %I -> the task index; a directory gets the
    default file name."""
    value = text.replace("%J", "%A" if "%I" in text else "%j").replace("%I", "%a")
    if value.endswith("/") or os.path.isdir(value):
        value = value.rstrip("/") + "/" + default_name
    return value


def environment(spec: str | None) -> dict[str, str]:
    """-env: "all" (the default: the submission environment), "none", or a list of
    names (copied) and NAME=value pairs, after an optional "all,"."""
    if spec is None:
        return dict(os.environ)
    items = [p.strip() for p in spec.split(",") if p.strip()]
    env: dict[str, str] = {}
    for item in items:
        low = item.lower()
        if low == "all":
            env.update(os.environ)
        elif low == "none":
            continue
        elif "=" in item:
            key, _, value = item.partition("=")
            env[key.strip()] = value.strip().strip("'\"")
        elif item in os.environ:
            env[item] = os.environ[item]
    return env
