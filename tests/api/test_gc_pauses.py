"""The collector's pauses are logged (services/gc_pauses.py, watched by the
controller process)."""

from __future__ import annotations

import gc
import logging

import pytest

from corral.services import gc_pauses


def test_a_slow_collection_is_logged_as_a_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    gc_pauses.watch()
    gc_pauses.watch()  # (once per process)
    assert gc.callbacks.count(gc_pauses._watch) == 1
    monkeypatch.setattr(gc_pauses, "WARN_S", -1.0)  # every collection is "slow"
    with caplog.at_level(logging.DEBUG, logger="corral.gc"):
        gc.collect()
    assert any("generation 2 held every thread" in r.getMessage()
               and r.levelno == logging.WARNING for r in caplog.records)
    monkeypatch.setattr(gc_pauses, "WARN_S", 3600.0)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="corral.gc"):
        gc.collect()
    assert [r.levelno for r in caplog.records if r.name == "corral.gc"] == [logging.DEBUG]
