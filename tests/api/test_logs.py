"""The JSON log formatter and the request ids (corral.logs, api/request_ids.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from corral import logs
from corral.api.request_ids import request_id_of


@pytest.fixture(autouse=True)
def _keep_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _capture(fmt: logs.LogFormat, node: str | None = None) -> io.StringIO:
    out = io.StringIO()
    logs.setup(fmt, "%(levelname)s %(message)s", stream=out, node=node, process="test")
    return out


def test_json_lines_carry_the_ids_known() -> None:
    out = _capture("json", node="n7")
    log = logging.getLogger("corral.test")
    token = logs.request_id_var.set("r-1")
    try:
        log.info("job %d: %s", 42, "ran", extra=logs.log_ids(job_id=42))
    finally:
        logs.request_id_var.reset(token)
    log.warning("plain \"quoted\"\nline")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")
    first, second, third = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "job 42: ran" and first["level"] == "info"
    assert (first["job_id"], first["node"], first["request_id"]) == (42, "n7", "r-1")
    assert first["logger"] == "corral.test" and first["process"] == "test"
    assert second["message"] == "plain \"quoted\"\nline" and "job_id" not in second
    assert "request_id" not in second and second["node"] == "n7"
    assert "ValueError: boom" in third["exception"]


def test_a_record_names_its_own_node_over_the_process_one() -> None:
    out = _capture("json", node="agent-node")
    logging.getLogger("corral.test").info("x", extra=logs.log_ids(node="other"))
    assert json.loads(out.getvalue())["node"] == "other"


def test_text_format_is_unchanged() -> None:
    out = _capture("text")
    logging.getLogger("corral.test").info("hello %s", "you", extra=logs.log_ids(job_id=1))
    assert out.getvalue() == "INFO hello you\n"


def test_request_ids_from_clients_only_when_plain() -> None:
    assert request_id_of([(b"x-request-id", b"abc-123")]) == "abc-123"
    for bad in (b"", b"a b", b"x" * 129, "é".encode(), b"a\r\nb"):
        rid = request_id_of([(b"x-request-id", bad)])
        assert len(rid) == 16 and rid != bad.decode(errors="replace")
    assert request_id_of([]) != request_id_of([])
