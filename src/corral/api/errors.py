"""The one place where domain errors become HTTP answers."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from corral.model.bounds import shown
from corral.model.errors import (
    Conflict,
    CorralError,
    Infeasible,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
)

STATUS: list[tuple[type[CorralError], int]] = [
    (Infeasible, 422),
    (InvalidRequest, 400),
    (NotFound, 404),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (Conflict, 409),
    (Unavailable, 503),
    (RateLimited, 429),
]


# pydantic's range errors -> (its context key, how corral says it)
_BOUNDS = {
    "less_than_equal": ("le", "is over the maximum of"),
    "greater_than_equal": ("ge", "is below the minimum of"),
}


def status_for(err: CorralError) -> int:
    for cls, status in STATUS:
        if isinstance(err, cls):
            return status
    return 500


def _body(code: str, message: str) -> dict[str, str]:
    return {"error": code, "message": message}


def install(app: FastAPI) -> None:
    @app.exception_handler(CorralError)
    async def _domain(_: Request, err: CorralError) -> JSONResponse:
        if isinstance(err, RateLimited):  # when to send it again (whole seconds in the
            # header, as HTTP has it; exactly in the body, for corral's clients)
            return JSONResponse(
                {**_body(err.code, err.message), "retry_after_s": round(err.retry_after_s, 3)},
                status_code=429,
                headers={"Retry-After": str(max(1, math.ceil(err.retry_after_s)))})
        return JSONResponse(_body(err.code, err.message), status_code=status_for(err))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse(_body("invalid", validation_message(err.errors()[0])),
                            status_code=400)


def validation_message(first: Any) -> str:
    """One line for a request's first validation error (pydantic's error dict)."""
    loc = ".".join(str(p) for p in first["loc"] if p not in ("body", "path", "query"))
    text = str(first["msg"]).removeprefix("Value error, ")
    bound = _BOUNDS.get(first["type"])
    if bound is not None and _non_finite(first.get("input")):
        msg = f"{loc}: {shown(first.get('input'))} is not a finite number"
    elif bound is not None:  # a number out of its range: the words of corral.model.bounds
        key, words = bound
        msg = f"{loc}: {shown(first.get('input'))} {words} {first['ctx'][key]}"
    elif first["type"] == "value_error" and ": " in text and not loc:
        msg = text  # a check across fields names its own
    else:
        value = first.get("input")
        msg = (f"{loc}: " if loc else "") + text + (
            f" (got {shown(value)})" if value is not None and not isinstance(value, dict)
            else "")
    return " ".join(msg.split())


def _non_finite(value: object) -> bool:
    """Whether a request's value is NaN or infinite (pydantic reports a NaN as
    out of every range)."""
    try:
        return not math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False
