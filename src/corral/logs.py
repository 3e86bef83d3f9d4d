"""The daemons' logs: plain text lines, or JSON lines (`log_format = "json"`).

A JSON line carries `time` (UTC, ISO 8601), `level`, `logger` and `message`, and
where known `job_id`, `node` and `request_id`. They come from a log call's `extra`
(`log.info("…", extra=log_ids(job_id=7))`), else from the context: the REST request being
served (`request_id`) and, in an agent, the node it runs on. Standard library only.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
ID_FIELDS = ("job_id", "node", "request_id")

# the REST request a controller task serves (api/request_ids.py sets it)
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "corral_request_id", default=None)


def log_ids(*, job_id: int | None = None, node: str | None = None) -> dict[str, Any]:
    """`extra` for a log call about a job and/or a node."""
    out: dict[str, Any] = {}
    if job_id is not None:
        out["job_id"] = job_id
    if node is not None:
        out["node"] = node
    return out


class ContextFilter(logging.Filter):
    """Puts the ids known from the context on every record that lacks them."""

    def __init__(self, node: str | None = None) -> None:
        super().__init__()
        self.node = node

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "node", None) is None:
            record.node = self.node
        if not hasattr(record, "job_id"):
            record.job_id = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ids that are not known are left out."""

    def __init__(self, static: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        t = time.gmtime(record.created)
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        out.update(self.static)
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=str, ensure_ascii=False)


def setup(fmt: LogFormat, text_format: str, *, level: int | str = logging.INFO,
          stream: TextIO | None = None, log_file: str | None = None,
          node: str | None = None, process: str | None = None) -> None:
    """Route the root logger to one handler in the given format, replacing any other."""
    handler: logging.Handler = (logging.FileHandler(log_file) if log_file
                                else logging.StreamHandler(stream or sys.stderr))
    if fmt == "json":
        handler.setFormatter(JsonFormatter({"process": process} if process else None))
    else:
        handler.setFormatter(logging.Formatter(text_format))
    handler.addFilter(ContextFilter(node))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
