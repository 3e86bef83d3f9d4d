"""Node feature constraints as a job carries them: a list of terms that all must hold.

A term is a feature name or an expression of Slurm's constraint grammar (`a|b`,
`!old`, `(a|b)&c`; corral.sched.constraint evaluates it). The front ends turn a
user's `--constraint` text into terms; the scheduler joins them back into one
expression.
"""

from __future__ import annotations

from collections.abc import Iterable

_COMPOUND = set("|!()")


def constraint_terms(text: str) -> list[str]:
    """'a&b' or 'a,b' -> ['a', 'b']; an expression with | ! or () stays one term."""
    text = text.strip()
    if _COMPOUND & set(text):
        return [text] if text else []
    return [t.strip() for t in text.replace(",", "&").split("&") if t.strip()]


def join_constraint(terms: Iterable[str]) -> str | None:
    """The terms as one expression (every term must hold); None: no constraint."""
    parts = [f"({t})" if _COMPOUND & set(t) or "&" in t or "," in t else t
             for t in terms if t]
    return "&".join(parts) or None
