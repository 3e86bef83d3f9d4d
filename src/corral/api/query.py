"""Query-string values as routes read them: checked before they reach a filter or the
store (PostgreSQL cannot even hold a NUL), a one-line 400 naming the field if not."""

from __future__ import annotations

from corral.model import bounds


def split_values(values: list[str] | None, field: str = "query") -> list[str]:
    """Repeated and comma-separated values (`?user=a,b&user=c`), each a storable text."""
    out: list[str] = []
    for v in values or []:
        bounds.check_text(field, v, bounds.MAX_PATH_LEN)
        out.extend(p for p in v.split(",") if p)
    return out


def names(field: str, values: list[str] | None) -> list[str] | None:
    """Names to filter by ("" too: none named), each without a control character and
    of at most MAX_IDENT_LEN characters."""
    for v in values or []:
        if v:
            bounds.check_name(field, v, bounds.MAX_IDENT_LEN)
    return values
