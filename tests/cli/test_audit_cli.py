"""`corral audit`'s time options (the command itself: tests/e2e/test_roles.py)."""

from __future__ import annotations

from datetime import datetime

import click
import pytest

from corral.cli.audit import parse_when

NOW = 1_800_000_000.0


@pytest.mark.parametrize(("text", "t"), [
    ("now", NOW), ("now-90", NOW - 90 * 60), ("now-2hours", NOW - 7200),
    ("now-30s", NOW - 30), ("NOW-1d", NOW - 86400), ("1799990000", 1_799_990_000.0),
    ("2026-11-29T10:00", datetime(2026, 11, 29, 10, 0).timestamp()),
])
def test_times(text: str, t: float) -> None:
    assert parse_when("--since", text, now=NOW) == t


def test_a_bad_time_is_bad_usage_naming_the_option() -> None:
    with pytest.raises(click.BadParameter, match="'yesterday-ish' is not a time") as e:
        parse_when("--since", "yesterday-ish", now=NOW)
    assert e.value.param_hint == "--since"
