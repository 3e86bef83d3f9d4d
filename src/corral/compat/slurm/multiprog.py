"""srun --multi-prog: a different program per task (MPMD), from Slurm's config file.

Each line is `RANKS PROGRAM [ARGS...]`: RANKS is a list of task ranks and ranges
(`0`, `1-3,5`) or `*` for every task no earlier line names. In the arguments `%t`
is the task's rank and `%o` its offset within the line's ranks. `#` starts a
comment and a line ending in a backslash continues on the next one.

The step runs one small POSIX shell program on every task; it picks the task's line
by $SLURM_PROCID, so the nodes need nothing but /bin/sh.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

MAX_RANK = 1 << 20


class MultiProgError(ValueError):
    """The config file is not valid; the message names the line and the text."""


@dataclass(frozen=True)
class Line:
    ranks: tuple[int, ...] | None  # None: `*`, every task no other line names
    argv: tuple[str, ...]


def _ranks(text: str, where: str) -> tuple[int, ...] | None:
    if text == "*":
        return None
    out: list[int] = []
    for part in text.split(","):
        lo_text, _, hi_text = part.partition("-")
        try:
            lo = int(lo_text)
            hi = int(hi_text) if hi_text else lo
        except ValueError:
            raise MultiProgError(f"{where}: task ranks {text!r}: expected ranks such as "
                                 "0, 1-3,5 or *") from None
        if lo < 0 or hi < lo or hi >= MAX_RANK:
            raise MultiProgError(f"{where}: task range {part!r} is empty or out of "
                                 f"bounds (0 to {MAX_RANK - 1})")
        out.extend(range(lo, hi + 1))
    return tuple(out)


def parse(text: str, source: str = "config") -> list[Line]:
    lines: list[Line] = []
    seen: dict[int, int] = {}
    wildcard_at = 0
    pending = ""
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        full, pending = pending + raw, ""
        where = f"{source} line {number}"
        try:
            words = shlex.split(full, comments=True)
        except ValueError as exc:
            raise MultiProgError(f"{where}: {exc}") from None
        if not words:
            continue
        if len(words) < 2:
            raise MultiProgError(f"{where}: {full.strip()!r} names no program")
        ranks = _ranks(words[0], where)
        if ranks is None:
            if wildcard_at:
                raise MultiProgError(f"{where}: a second '*' line (the first is line "
                                     f"{wildcard_at})")
            wildcard_at = number
        else:
            for r in ranks:
                if r in seen:
                    raise MultiProgError(f"{where}: task {r} is already given a program "
                                         f"on line {seen[r]}")
                seen[r] = number
        lines.append(Line(ranks, tuple(words[1:])))
    if not lines:
        raise MultiProgError(f"{source}: no program lines")
    return lines


def check_covers(lines: list[Line], ntasks: int, source: str = "config") -> None:
    """Every task of the step has a program, and no line names a task beyond it."""
    wildcard = any(line.ranks is None for line in lines)
    uncovered: set[int] = set() if wildcard else set(range(ntasks))
    for line in lines:
        for r in line.ranks or ():
            if r >= ntasks:
                raise MultiProgError(f"{source}: names task {r}, but the step has "
                                     f"{ntasks} task(s) (0 to {ntasks - 1})")
            uncovered.discard(r)
    if uncovered:
        raise MultiProgError(f"{source}: no program for task {min(uncovered)} of the "
                             f"{ntasks}")


_PERCENT = re.compile(r"(%[%to])")


def _fill(argv: tuple[str, ...], rank: str, offset: str) -> str:
    """The words, quoted for sh, with %t and %o in place ($-expressions allowed)."""
    fills = {"%t": rank, "%o": offset, "%%": shlex.quote("%")}
    return " ".join(
        "".join(fills.get(token) or shlex.quote(token)
                for token in _PERCENT.split(word) if token) or "''"
        for word in argv)


def shell_program(lines: list[Line], source: str) -> str:
    """The sh program every task runs: a `case` on $SLURM_PROCID."""
    arms = [f"  {rank}) exec {_fill(line.argv, str(rank), str(offset))} ;;"
            for line in lines for offset, rank in enumerate(line.ranks or ())]
    arms += [f'  *) exec {_fill(line.argv, "$SLURM_PROCID", "$SLURM_PROCID")} ;;'
             for line in lines if line.ranks is None]  # parse allows one at most
    msg = shlex.quote(f"srun: error: {source}: no program for task ")
    arms.append(f'  *) echo {msg}"$SLURM_PROCID" >&2; exit 1 ;;')
    return 'case "$SLURM_PROCID" in\n' + "\n".join(arms) + "\nesac\n"
