"""The highest event a user's writes were answered with, kept across commands
(client/session.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.client import session


def test_the_highest_seq_is_kept_per_set_of_controllers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_SESSION_DIR", str(tmp_path / "s"))
    urls = ["unix:///a.sock", "unix:///b.sock"]
    assert session.load(urls) == 0
    session.save(urls, 7)
    session.save(urls, 5)  # never back
    assert session.load(urls) == 7
    assert session.load(list(reversed(urls))) == 7  # the same controllers
    assert session.load(["unix:///a.sock", "unix:///c.sock"]) == 0


def test_an_unwritable_or_garbled_file_only_loses_the_guarantee(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CORRAL_SESSION_DIR", str(blocker / "sub"))
    session.save(["a", "b"], 3)  # no error
    assert session.load(["a", "b"]) == 0
    monkeypatch.setenv("CORRAL_SESSION_DIR", str(tmp_path))
    session.save(["a", "b"], 3)
    next(tmp_path.glob("seq-*")).write_text("garbage")
    assert session.load(["a", "b"]) == 0
