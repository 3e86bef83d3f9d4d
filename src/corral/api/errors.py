"""The one place where domain errors become HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from corral.model.errors import (
    Conflict,
    CorralError,
    Infeasible,
    InvalidRequest,
    NotFound,
    PermissionDenied,
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
]


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
        return JSONResponse(_body(err.code, err.message), status_code=status_for(err))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"] if p != "body")
        value = first.get("input")
        msg = f"{loc}: {first['msg']}" + (f" (got {value!r})" if value is not None else "")
        return JSONResponse(_body("invalid", msg), status_code=400)
