"""ClassAd expressions, parsed and evaluated by HTCondor's own library (classad2).

A job's `Requirements` selects nodes and its `Rank` orders them: both are evaluated
with the job's ad as MY and a node's ad as TARGET (`other.` in JDL). A requirement
holds only where it evaluates to true (or a non-zero number); UNDEFINED or ERROR
means "no". A rank that is not a number counts as 0.

classad2 parses and evaluates; this module adds only what the library does not say:
which top-level `&&` clause of a requirement no node meets, so a refusal can name it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import classad2

from corral.model.errors import InvalidRequest

MAX_EXPR_CHARS = 10_000

AttrValue = str | int | float | bool | list[str]


@lru_cache(maxsize=4096)
def parse_expr(field: str, text: str) -> Any:
    """The expression as classad2 holds it; InvalidRequest naming the field if the
    library cannot parse it."""
    if not text.strip():
        raise InvalidRequest(f"{field}: the expression is empty")
    if len(text) > MAX_EXPR_CHARS:
        raise InvalidRequest(f"{field}: {len(text)} characters is over the limit of "
                             f"{MAX_EXPR_CHARS}")
    if "\n" in text.strip() and text.strip().startswith("["):
        raise InvalidRequest(f"{field}: {text[:60]!r} is a ClassAd, not an expression")
    try:
        expr = classad2.ExprTree(text)
    except Exception:  # classad2 raises its ClassAdException without a position
        raise InvalidRequest(f"{field}: {text[:200]!r} is not a valid ClassAd expression"
                             ) from None
    if str(expr).lstrip().startswith("["):
        raise InvalidRequest(f"{field}: {text[:60]!r} is a ClassAd, not an expression")
    return expr


def normalized(field: str, text: str) -> str:
    """The expression as the library prints it (one canonical spelling)."""
    return str(parse_expr(field, text))


def make_ad(attrs: Mapping[str, AttrValue]) -> Any:
    ad = classad2.ClassAd()
    for name, value in attrs.items():
        ad[name] = list(value) if isinstance(value, (list, tuple)) else value
    return ad


# (id(MY), id(expression)) -> both, kept so that their ids stay theirs
_BOUND: dict[tuple[int, int], tuple[Any, Any]] = {}


def _scope(my: Any, expr: Any) -> Any:
    """MY as matchmaking sees it: a name that MY lacks is looked up in TARGET (HTCondor's
    `Memory >= 8000` means the machine's Memory); classad2's eval(my, target) leaves
    such a name UNDEFINED, so each name of `expr` that MY lacks (the library's
    externalRefs) is added to MY once as `TARGET.name`: the evaluations on every
    node then cost no copy of an ad."""
    key = (id(my), id(expr))
    if key not in _BOUND:
        for ref in my.externalRefs(expr):
            if "." not in ref and ref not in my:
                my[ref] = classad2.ExprTree(f"TARGET.{ref}")
        if len(_BOUND) >= 4096:
            _BOUND.clear()
        _BOUND[key] = (my, expr)
    return my


def holds(expr: Any, my: Any, target: Any) -> bool:
    """Whether a requirement holds for this pair of ads (matchmaking's truth)."""
    try:
        v = expr.eval(_scope(my, expr), target)
    except Exception:
        return False
    if isinstance(v, classad2.Value):  # UNDEFINED or ERROR (an int enum): "no"
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return False


def rank_of(expr: Any, my: Any, target: Any) -> float:
    try:
        v = expr.eval(_scope(my, expr), target)
    except Exception:
        return 0.0
    if isinstance(v, classad2.Value):
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    return 0.0


def conjuncts(text: str) -> list[str]:
    """The top-level `&&` clauses of an expression, in order, each as the library
    prints it (`a && (b || c) && d` -> ['a', '(b || c)', 'd'])."""
    src = str(parse_expr("requirements", text))
    out: list[str] = []
    depth, start, i, quote = 0, 0, 0, ""
    while i < len(src):
        ch = src[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and src.startswith("&&", i):
            out.append(src[start:i].strip())
            start = i + 2
            i += 1
        i += 1
    out.append(src[start:].strip())
    return [c for c in out if c]


def unmet_clause(text: str, my: Any, targets: Iterable[Any]) -> str | None:
    """The first top-level clause of `text` that no target meets (None: each clause
    is met by some target). With no target at all, the whole expression."""
    ads = list(targets)
    if not ads:
        return str(parse_expr("requirements", text))
    for clause in conjuncts(text):
        expr = parse_expr("requirements", clause)
        if not any(holds(expr, my, ad) for ad in ads):
            return clause
    return None
