"""Node feature constraints: `avx512&(ib|eth)`, `gpu,!old`.

Grammar (Slurm's operators, plus `!` for "not"; `,` is a synonym of `&`):

    expr   := term ('|' term)*
    term   := factor (('&' | ',') factor)*
    factor := '!' factor | '(' expr ')' | NAME
    NAME   := [A-Za-z0-9_.:+-]+
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from corral.model.errors import InvalidRequest

Pred = Callable[[frozenset[str]], bool]
_TOKEN = re.compile(r"\s*(?:([A-Za-z0-9_.:+\-]+)|([&|,!()]))")


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise InvalidRequest(f"constraint {text!r}: unexpected {text[pos:].strip()[:1]!r}")
        out.append(m.group(1) or m.group(2))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def _peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _fail(self, what: str) -> InvalidRequest:
        return InvalidRequest(f"constraint {self.text!r}: {what}")

    def parse(self) -> Pred:
        if not self.toks:
            raise self._fail("is empty")
        p = self._expr()
        if self._peek() is not None:
            raise self._fail(f"unexpected {self._peek()!r}")
        return p

    def _expr(self) -> Pred:
        parts = [self._term()]
        while self._peek() == "|":
            self.i += 1
            parts.append(self._term())
        if len(parts) == 1:
            return parts[0]
        return lambda fs: any(p(fs) for p in parts)

    def _term(self) -> Pred:
        parts = [self._factor()]
        while self._peek() in ("&", ","):
            self.i += 1
            parts.append(self._factor())
        if len(parts) == 1:
            return parts[0]
        return lambda fs: all(p(fs) for p in parts)

    def _factor(self) -> Pred:
        tok = self._peek()
        if tok is None:
            raise self._fail("ends too early")
        self.i += 1
        if tok == "!":
            inner = self._factor()
            return lambda fs: not inner(fs)
        if tok == "(":
            inner = self._expr()
            if self._peek() != ")":
                raise self._fail("missing ')'")
            self.i += 1
            return inner
        if tok in "&|,)":
            raise self._fail(f"unexpected {tok!r}")
        name = tok
        return lambda fs: name in fs


@lru_cache(maxsize=1024)
def compile_constraint(text: str) -> Pred:
    """Parse once; the same text gives the same predicate object (cached)."""
    return _Parser(text).parse()


def matches(text: str | None, features: frozenset[str]) -> bool:
    return True if not text else compile_constraint(text)(features)
