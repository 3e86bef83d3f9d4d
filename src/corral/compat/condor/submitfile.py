"""HTCondor submit description files: commands, macros and `queue` statements.

A file is read into `Proc`s, one per job of the cluster it submits: each is the
file's commands with every macro expanded for that job ($(Process), $(Item),
$(Step), the queue statement's variables, $ENV(NAME), $(name:default)).
$(Cluster)/$(ClusterId) is not known until the cluster exists: it is left as
`CLUSTER_MARK` for the caller to fill in.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from corral.model.bounds import shown
from corral.model.errors import InvalidRequest

CLUSTER_MARK = "\x00CLUSTER\x00"
MAX_PROCS = 100_000
MAX_DEPTH = 32  # nested macro expansions
_MACRO = re.compile(r"\$(?:ENV)?\(([A-Za-z_][A-Za-z0-9_.]*)(?::([^)]*))?\)")
_ENV_MACRO = re.compile(r"\$ENV\(([A-Za-z_][A-Za-z0-9_]*)(?::([^)]*))?\)")
_QUEUE = re.compile(r"^queue\b(.*)$", re.IGNORECASE | re.DOTALL)
_ASSIGN = re.compile(r"^\+?[A-Za-z_][A-Za-z0-9_.]*\s*=")


class SubmitFileError(InvalidRequest):
    """A submit description that cannot be read: one line naming the line."""


@dataclass
class Proc:
    """One job of the cluster: its commands (lower-case names) with macros expanded;
    custom attributes (`+Name` / `MY.Name`) under their own names."""

    process: int
    commands: dict[str, str]
    attributes: dict[str, str] = field(default_factory=dict)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with `\\` continuations joined and comments dropped."""
    out: list[tuple[int, str]] = []
    pending = ""
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not pending and line.lstrip().startswith("#"):
            continue
        if not pending:
            start = n
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        if pending.strip():
            out.append((start, pending.strip()))
        pending = ""
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def _expand(value: str, macros: dict[str, str], depth: int = 0) -> str:
    if depth > MAX_DEPTH:
        raise SubmitFileError(f"macro expansion deeper than {MAX_DEPTH}: {shown(value)}")

    def env_sub(m: re.Match[str]) -> str:
        return os.environ.get(m.group(1), m.group(2) or "")

    value = _ENV_MACRO.sub(env_sub, value)

    def sub(m: re.Match[str]) -> str:
        name = m.group(1).lower()
        if name in ("cluster", "clusterid"):
            return CLUSTER_MARK
        if name in macros:
            return _expand(macros[name], macros, depth + 1)
        if m.group(2) is not None:
            return m.group(2)
        return ""  # an undefined macro is empty, as in HTCondor

    return _MACRO.sub(sub, value)


@dataclass
class QueueSpec:
    count: int
    variables: list[str]
    items: list[str]


def _items_block(rest: str, lines: list[tuple[int, str]], i: int) -> tuple[str, int]:
    """An inline `( ... )` list that may run over several lines; -> its text and the
    index of the next line."""
    text = rest
    while ")" not in text:
        if i >= len(lines):
            raise SubmitFileError("queue: a '(' list is not closed with ')'")
        text += "\n" + lines[i][1]
        i += 1
    inner = text[text.index("(") + 1:text.rindex(")")]
    return inner, i


def parse_queue(arg: str, base: Path, lines: list[tuple[int, str]], i: int,
                lineno: int) -> tuple[QueueSpec, int]:
    """`queue`, `queue N`, `queue [N] vars in|from|matching ...`."""
    words = arg.strip()
    count = 1
    m = re.match(r"^(\d+)\b\s*(.*)$", words, re.DOTALL)
    if m:
        count = int(m.group(1))
        words = m.group(2)
    if not words:
        return QueueSpec(count, [], [""]), i
    m = re.match(r"^(.*?)\b(in|from|matching)\b\s*(.*)$", words, re.IGNORECASE | re.DOTALL)
    if not m:
        raise SubmitFileError(f"line {lineno}: queue {shown(arg.strip())}: expected "
                              "`queue [N] [vars] in|from|matching ...`")
    names = [v for v in re.split(r"[\s,]+", m.group(1).strip()) if v] or ["Item"]
    how, rest = m.group(2).lower(), m.group(3).strip()
    if rest.startswith("("):
        body, i = _items_block(rest, lines, i)
        raw = [ln.strip() for ln in body.splitlines() if ln.strip()]
    elif how == "from":
        path = Path(rest) if os.path.isabs(rest) else base / rest
        try:
            raw = [ln.strip() for ln in path.read_text().splitlines()
                   if ln.strip() and not ln.lstrip().startswith("#")]
        except OSError as e:
            raise SubmitFileError(f"line {lineno}: queue from {rest}: {e.strerror}") from None
    else:
        raw = [rest] if rest else []
    if how == "in":
        items = [w for ln in raw for w in re.split(r"[\s,]+", ln) if w]
    elif how == "matching":
        patterns = [w for ln in raw for w in ln.split()]
        kind = None
        if patterns and patterns[0].lower() in ("files", "dirs"):
            kind = patterns.pop(0).lower()
        items = []
        for pat in patterns:
            for hit in sorted(glob.glob(str(base / pat))):
                p = Path(hit)
                if (kind == "files" and not p.is_file()) or (kind == "dirs" and not p.is_dir()):
                    continue
                items.append(os.path.relpath(hit, base) if not os.path.isabs(pat) else hit)
    else:
        items = raw
    return QueueSpec(count, names, items), i


def _split_item(item: str, names: list[str]) -> dict[str, str]:
    """An item's values for the variables: by commas or spaces, the last takes the rest."""
    if len(names) == 1:
        return {names[0].lower(): item}
    parts = re.split(r"\s*,\s*|\s+", item.strip(), maxsplit=len(names) - 1)
    parts += [""] * (len(names) - len(parts))
    return {n.lower(): v for n, v in zip(names, parts, strict=True)}


def read(text: str, base: Path, extra: dict[str, str] | None = None,
         queue_override: str | None = None) -> list[Proc]:
    """The procs a submit description makes. `extra`: `name=value` given on the
    command line (they win over the file's); `queue_override`: -queue's statement."""
    lines = logical_lines(text)
    macros: dict[str, str] = {}
    attrs: dict[str, str] = {}
    procs: list[Proc] = []
    i = 0
    queued = False
    while i < len(lines):
        lineno, line = lines[i]
        i += 1
        q = _QUEUE.match(line)
        if q:
            if queue_override is not None:
                continue
            spec, i = parse_queue(q.group(1), base, lines, i, lineno)
            _make(spec, macros, attrs, extra or {}, procs)
            queued = True
            continue
        if re.match(r"^(include|if|elif|else|endif|error|warning)\b(?!\s*=)", line,
                    re.IGNORECASE):
            raise SubmitFileError(f"line {lineno}: {shown(line.split()[0])} is not "
                                  "supported by corral's condor_submit")
        if not _ASSIGN.match(line):
            raise SubmitFileError(f"line {lineno}: {shown(line[:80])} is not a command "
                                  "(name = value) nor a queue statement")
        key, _, value = line.partition("=")
        key = key.strip()
        if key.startswith("+") or key.upper().startswith("MY."):
            attrs[key.lstrip("+").split(".", 1)[-1] if key.upper().startswith("MY.")
                  else key[1:]] = value.strip()
        else:
            macros[key.lower()] = value.strip()
    if queue_override is not None:
        spec, _ = parse_queue(queue_override, base, [], 0, 0)
        _make(spec, macros, attrs, extra or {}, procs)
        queued = True
    if not queued:
        raise SubmitFileError("no queue statement: nothing is submitted "
                              "(end the file with `queue`)")
    if not procs:
        raise SubmitFileError("the queue statements give no job (an empty item list)")
    return procs


def _make(spec: QueueSpec, macros: dict[str, str], attrs: dict[str, str],
          extra: dict[str, str], procs: list[Proc]) -> None:
    if spec.count < 0 or len(procs) + spec.count * max(1, len(spec.items)) > MAX_PROCS:
        raise SubmitFileError(f"queue: more than {MAX_PROCS} jobs in one cluster")
    for row, item in enumerate(spec.items):
        values = _split_item(item, spec.variables) if spec.variables else {}
        for step in range(spec.count):
            local = {**macros, **{k.lower(): v for k, v in extra.items()}, **values,
                     "process": str(len(procs)), "procid": str(len(procs)),
                     "step": str(step), "itemindex": str(row), "row": str(row)}
            if spec.variables:
                local.setdefault("item", item)
            commands = {k: _expand(v, local) for k, v in macros.items()}
            commands.update({k.lower(): _expand(v, local) for k, v in extra.items()})
            procs.append(Proc(len(procs), commands,
                              {k: _expand(v, local) for k, v in attrs.items()}))
