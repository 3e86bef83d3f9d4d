"""What UWS clients send: form fields (application/x-www-form-urlencoded or
multipart/form-data, whose files are file parameters, in the body or the query), each
name case-insensitive, each value checked before it reaches a
job — one line naming the field, the value and the limit when it is wrong."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import parse_qsl

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message

from corral.model.bounds import shown
from corral.model.errors import InvalidRequest

MAX_BODY_BYTES = 256 * 1024
MAX_FIELDS = 300
MAX_VALUE_LEN = 65536
MAX_INT = 2**31 - 1  # xs:int, as the schema types executionDuration
# characters XML 1.0 cannot carry (the documents give every value back)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
FORM_TYPES = ("application/x-www-form-urlencoded", "")
MULTIPART = "multipart/form-data"
MAX_FILES = 32  # files in one form


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


def _kind(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _announced_over(request: Request, limit: int) -> None:
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise InvalidRequest(f"body: {announced} bytes, over the limit of {limit}")


async def body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request's body, at most `limit` bytes."""
    _announced_over(request, limit)
    got = await request.body()
    if len(got) > limit:
        raise InvalidRequest(f"body: {len(got)} bytes, over the limit of {limit}")
    return got


async def fields(request: Request) -> list[tuple[str, str]]:
    """The query's fields, then the body's (a POST's form; a file in it is refused)."""
    async with parsed(request, MAX_BODY_BYTES) as (pairs, files):
        if files:
            raise InvalidRequest(f"{shown(files[0].field)}: a file is not taken here "
                                 f"(file parameters go to the job list or the job's "
                                 f"parameters)")
        return pairs


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file of a multipart/form-data form."""

    field: str
    filename: str
    file: BinaryIO


@asynccontextmanager
async def parsed(request: Request, max_bytes: int
                 ) -> AsyncIterator[tuple[list[tuple[str, str]], list[FilePart]]]:
    """The query's fields, then the body's: a POST's (or PUT's) form, URL-encoded
    (at most MAX_BODY_BYTES) or multipart/form-data (at most `max_bytes` in all),
    and the form's files, open while in the block."""
    out = _pairs(request.scope.get("query_string", b""), "query")
    kind = _kind(request)
    if request.method not in ("POST", "PUT"):
        yield out, []
        return
    if kind != MULTIPART:
        got = await body(request)
        if got and kind not in FORM_TYPES:
            raise InvalidRequest(f"body: {kind!r} is not application/x-www-form-urlencoded "
                                 f"or multipart/form-data")
        yield out + _pairs(got, "body"), []
        return
    _announced_over(request, max_bytes)
    form = await _multipart(request, max_bytes)
    try:
        files: list[FilePart] = []
        for name, value in form.multi_items():
            checked_value("field name", name, 64)
            if isinstance(value, str):
                out.append((name, checked_value(name, value)))
            else:
                files.append(FilePart(name, value.filename or "", value.file))
        yield out, files
    finally:
        await form.close()


async def _multipart(request: Request, max_bytes: int) -> FormData:
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise InvalidRequest(f"body: over the limit of {max_bytes} bytes")
        return message

    capped = Request(request.scope, receive)
    try:
        return await capped.form(max_files=MAX_FILES, max_fields=MAX_FIELDS,
                                 max_part_size=MAX_VALUE_LEN * 4)
    except HTTPException as exc:  # (starlette's word for a malformed form)
        raise InvalidRequest(f"body: not a multipart/form-data form: "
                             f"{' '.join(str(exc.detail).split())[:200]}") from None


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
