"""`corral output`: JOB [DIR], or --dir DIR JOB...; more than two words without --dir
is bad usage, said in one line before any request."""

from __future__ import annotations

from click.testing import CliRunner

from corral.cli.sandbox import output


def test_three_words_without_dir_are_refused() -> None:
    got = CliRunner().invoke(output, ["4", "5", "out"])
    assert got.exit_code == 2
    assert got.output.strip().splitlines()[-1] == (
        "Error: 3 arguments: give JOB [DIR], or --dir DIR JOB... for several jobs")


def test_no_job_is_refused() -> None:
    got = CliRunner().invoke(output, ["--dir", "out"])
    assert got.exit_code == 2 and "Missing argument" in got.output
