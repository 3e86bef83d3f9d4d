"""`corral jobs`' and `corral show`'s fast paths read a command line exactly as
click does, or leave it to click."""

from __future__ import annotations

import click
import pytest

from corral.cli.entry import JOBS_FILTERS, JOBS_FLAGS, fast_show, parse_jobs
from corral.cli.query import jobs


def test_the_tables_match_the_click_definitions() -> None:
    by_flag = {o: p for p in jobs.params if isinstance(p, click.Option) for o in p.opts}
    for flag, dest in JOBS_FLAGS.items():
        assert by_flag[flag].name == dest and by_flag[flag].is_flag, flag
    for flag, dest in JOBS_FILTERS.items():
        p = by_flag[flag]
        assert p.name == dest and p.multiple and p.type is click.STRING, flag


@pytest.mark.parametrize("argv", [
    [], ["-l"], ["-a", "--long", "-r"], ["-u", "alice", "--user=bob", "-p", "main"],
    ["--name", "n1", "-n", "n2", "--partition=gpu", "--all"],
])
def test_the_fast_reading_is_clicks(argv: list[str]) -> None:
    opts = parse_jobs(argv)
    assert opts is not None
    ctx = jobs.make_context("jobs", list(argv))
    for dest in set(JOBS_FLAGS.values()):
        assert bool(opts.get(dest)) == ctx.params[dest], dest
    for dest in set(JOBS_FILTERS.values()):
        assert tuple(opts[dest]) == ctx.params[dest], dest


@pytest.mark.parametrize("argv", [
    ["--json"], ["--help"], ["-t", "PENDING"], ["-j", "5"], ["--history"], ["--limit", "3"],
    ["-la"], ["-u"], ["-u", "-x"], ["--all=yes"], ["extra"], ["--bogus"],
])
def test_anything_else_goes_to_click(argv: list[str]) -> None:
    assert parse_jobs(argv) is None


@pytest.mark.parametrize("argv", [
    [], ["5", "6"], ["--json"], ["5", "--json"], ["0"], ["007"], ["5_1"], ["5_[1-2]"],
    ["2147483648"], ["-5"], ["٣"], ["x"],
])
def test_show_leaves_all_but_one_plain_id_to_click(argv: list[str]) -> None:
    assert fast_show(argv) is None  # (never asks the controller: none runs here)
