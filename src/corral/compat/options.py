"""A getopt_long work-alike: the option syntax Slurm and Grid Engine tools expect.

Long options may be abbreviated to any unique prefix, take their value as
`--opt=value` or `--opt value` (optional values only with `=`); short options
may be clustered (`-Hv`) and take their value attached (`-n4`) or separate.
Parsing stops at the first operand (the script), as Slurm's does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NONE, REQUIRED, OPTIONAL = 0, 1, 2


class OptionError(Exception):
    """A usage error, worded like getopt's."""


@dataclass(frozen=True, slots=True)
class Opt:
    long: str
    dest: str
    arg: int = REQUIRED
    short: str | None = None


def _find_long(name: str, table: list[Opt]) -> Opt:
    exact = [o for o in table if o.long == name]
    if exact:
        return exact[0]
    matches = [o for o in table if o.long.startswith(name)]
    if len({o.dest for o in matches}) == 1 and matches:
        return matches[0]
    if matches:
        names = " ".join(f"'--{o.long}'" for o in matches)
        raise OptionError(f"option '--{name}' is ambiguous; possibilities: {names}")
    raise OptionError(f"unrecognized option '--{name}'")


def parse(argv: list[str], table: list[Opt], *,
          interspersed: bool = False) -> tuple[list[tuple[Opt, str | None]], list[str]]:
    """-> ([(option, value)] in order, operands). `interspersed`: operands may come
    between options (squeue, scancel); else everything from the first operand on."""
    shorts = {o.short: o for o in table if o.short}
    found: list[tuple[Opt, str | None]] = []
    operands: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            operands.extend(argv[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            opt = _find_long(name, table)
            if opt.arg == NONE:
                if eq:
                    raise OptionError(f"option '--{opt.long}' doesn't allow an argument")
                found.append((opt, None))
            elif opt.arg == OPTIONAL:
                found.append((opt, value if eq else None))
            elif eq:
                found.append((opt, value))
            elif i < len(argv):
                found.append((opt, argv[i]))
                i += 1
            else:
                raise OptionError(f"option '--{opt.long}' requires an argument")
            continue
        if arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                ch = arg[j]
                opt_s = shorts.get(ch)
                if opt_s is None:
                    raise OptionError(f"invalid option -- '{ch}'")
                rest = arg[j + 1:]
                if opt_s.arg == NONE:
                    found.append((opt_s, None))
                    j += 1
                    continue
                if rest:
                    found.append((opt_s, rest))
                elif opt_s.arg == OPTIONAL:
                    found.append((opt_s, None))
                elif i < len(argv):
                    found.append((opt_s, argv[i]))
                    i += 1
                else:
                    raise OptionError(f"option requires an argument -- '{ch}'")
                break
            continue
        operands.append(arg)
        if not interspersed:
            operands.extend(argv[i:])
            break
    return found, operands


def collect(found: list[tuple[Opt, str | None]]) -> dict[str, Any]:
    """dest -> the last value given (flags: None)."""
    return {opt.dest: value for opt, value in found}
