"""What UWS clients send: form fields (application/x-www-form-urlencoded, in the body
or the query), each name case-insensitive, each value checked before it reaches a
job — one line naming the field, the value and the limit when it is wrong."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qsl

from starlette.requests import Request

from corral.model.bounds import shown
from corral.model.errors import InvalidRequest

MAX_BODY_BYTES = 256 * 1024
MAX_FIELDS = 300
MAX_VALUE_LEN = 65536
MAX_INT = 2**31 - 1  # xs:int, as the schema types executionDuration
# characters XML 1.0 cannot carry (the documents give every value back)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
FORM_TYPES = ("application/x-www-form-urlencoded", "")


def checked_value(field: str, value: str, max_len: int = MAX_VALUE_LEN) -> str:
    if len(value) > max_len:
        raise InvalidRequest(f"{field}: {len(value)} characters, over the limit of {max_len}")
    m = _NOT_XML.search(value)
    if m is not None:
        raise InvalidRequest(f"{field}: {shown(value)} contains the character "
                             f"U+{ord(m.group()):04X}")
    return value


def _pairs(raw: bytes, where: str) -> list[tuple[str, str]]:
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False,
                          errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise InvalidRequest(f"{where}: not UTF-8") from None
    except ValueError:
        raise InvalidRequest(f"{where}: over the limit of {MAX_FIELDS} fields") from None
    for name, value in pairs:
        checked_value("field name", name, 64)
        checked_value(name, value)
    return pairs


async def fields(request: Request) -> list[tuple[str, str]]:
    """The query's fields, then the body's (a POST's form)."""
    out = _pairs(request.scope.get("query_string", b""), "query")
    if request.method == "POST":
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        announced = request.headers.get("content-length", "")
        if announced.isdigit() and int(announced) > MAX_BODY_BYTES:
            raise InvalidRequest(f"body: {announced} bytes, over the limit of {MAX_BODY_BYTES}")
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequest(f"body: {len(body)} bytes, over the limit of "
                                 f"{MAX_BODY_BYTES}")
        if body and kind not in FORM_TYPES:
            raise InvalidRequest(f"body: {kind!r} is not application/x-www-form-urlencoded")
        out += _pairs(body, "body")
    return out


def split(pairs: list[tuple[str, str]], names: frozenset[str]
          ) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """(the fields named in `names`, upper-cased name -> values; the others)"""
    control: dict[str, list[str]] = {}
    rest: list[tuple[str, str]] = []
    for name, value in pairs:
        up = name.upper()
        if up in names:
            control.setdefault(up, []).append(value)
        else:
            rest.append((name, value))
    return control, rest


def one(control: dict[str, list[str]], name: str) -> str | None:
    values = control.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest(f"{name}: given {len(values)} times")
    return values[0]


def integer(name: str, value: str, low: int, high: int) -> int:
    v = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", v):
        raise InvalidRequest(f"{name}: {shown(value)} is not an integer")
    if len(v.lstrip("+-").lstrip("0")) > 20:  # (not worth converting)
        side = "below the minimum of" if v.startswith("-") else "over the maximum of"
        raise InvalidRequest(f"{name}: {shown(value)} is {side} "
                             f"{low if v.startswith('-') else high}")
    n = int(v)
    if n < low:
        raise InvalidRequest(f"{name}: {n} is below the minimum of {low}")
    if n > high:
        raise InvalidRequest(f"{name}: {shown(n)} is over the maximum of {high}")
    return n


def instant(name: str, value: str) -> float:
    """An ISO 8601 date and time (UTC when it names no zone) -> epoch seconds."""
    v = value.strip()
    try:
        if len(v) > 40:
            raise ValueError
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        raise InvalidRequest(f"{name}: {shown(value)} is not an ISO 8601 date and time "
                             f"(e.g. 2026-11-30T10:00:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    try:
        return t.timestamp()
    except (OverflowError, ValueError):
        raise InvalidRequest(f"{name}: {shown(value)} is out of range") from None
