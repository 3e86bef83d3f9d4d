"""`corral submit`'s fast path reads a command line exactly as click does, or
leaves it to click; it never imports click."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from corral.cli.entry import FLAG_OPTIONS, VALUE_OPTIONS, parse_submit
from corral.cli.submit import submit


def test_the_tables_match_the_click_definitions() -> None:
    by_flag = {o: p for p in submit.params if isinstance(p, click.Option) for o in p.opts}
    checked = {"name": "check_name", "dependency": "_dependency"}  # mirrored by _checked
    for flag, dest in VALUE_OPTIONS.items():
        p = by_flag[flag]
        assert p.name == dest and not p.is_flag and p.type is click.STRING, flag
        assert getattr(p.callback, "__name__", None) == checked.get(dest), flag
    for flag, dest in FLAG_OPTIONS.items():
        assert by_flag[flag].name == dest and by_flag[flag].is_flag, flag
    plain = {o for p in submit.params if isinstance(p, click.Option) for o in p.opts
             if (p.is_flag or p.type is click.STRING) and not p.multiple}  # (click's)
    assert plain - {"--help", "-h", "--json", "--wait"} == set(VALUE_OPTIONS) | set(FLAG_OPTIONS)


@pytest.mark.parametrize("argv", [
    ["--wrap", "echo hi"],
    ["--wrap=echo hi", "-H", "-J", "n", "--output=o-%j", "-p", "main", "--parsable",
     "--idempotency-key", "k1"],
    ["-t", "10:00", "--mem", "1G", "-a", "0-9%2", "-d", "afterok:5", "-w", "n[1-2]",
     "--no-requeue", "--exclusive", "--hold", "--constraint=a&b", "-x", "n3", "--qos",
     "q", "--reservation", "r", "--signal", "B:USR1@30", "--user", "u", "-D", "/tmp",
     "-e", "err", "-A", "acct", "-q", "q2", "--begin", "now+60", "--nodelist", "n1",
     "job.sh", "a", "-b", "--c"],
    ["script.sh"],
    ["-o", "x", "-o", "y", "s.sh", "--wrap", "x"],
])
def test_the_fast_reading_is_clicks(argv: list[str]) -> None:
    parsed = parse_submit(argv)
    assert parsed is not None
    opts, script, args = parsed
    ctx = submit.make_context("submit", list(argv))
    expect = {k: v for k, v in ctx.params.items()
              if v not in (None, False, ()) and k not in ("script", "args")}
    assert opts == expect
    assert script == ctx.params["script"] and tuple(args) == ctx.params["args"]


@pytest.mark.parametrize("argv", [
    ["--help"], ["-h"], ["-c", "2", "--wrap", "x"], ["--json", "--wrap", "x"],
    ["--wait", "--wrap", "x"], ["-Hp", "main", "--wrap", "x"], ["--", "s.sh"],
    ["-"], ["--hold=yes", "--wrap", "x"], ["-o"], ["-o", "-x", "--wrap", "x"],
    ["--bogus", "--wrap", "x"], ["--max-retries", "2", "--wrap", "x"],
    ["--input-sandbox", "f", "--wrap", "x"], ["--output-sandbox", "o", "--wrap", "x"],
])
def test_anything_else_goes_to_click(argv: list[str]) -> None:
    assert parse_submit(argv) is None


@pytest.mark.parametrize(("argv", "line"), [
    (["-J", "a\tb", "--wrap", "x"], "corral submit: error: Invalid value for '-J'"),
    (["-d", "after:x", "--wrap", "x"], "corral submit: error: Invalid value for '-d'"),
])
def test_values_click_refuses_are_refused_the_same(tmp_path: Path, argv: list[str],
                                                   line: str) -> None:
    proc = _corral(tmp_path, "submit", *argv)
    assert proc.returncode == 2 and proc.stderr.startswith(line), proc.stderr


def _corral(tmp_path: Path, *args: str, probe: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_STATE_DIR"] = str(tmp_path)
    code = ["-m", "corral.cli", *args]
    if probe:  # the same, then say whether click was imported
        code = ["-c", "import atexit, sys, runpy\n"
                "atexit.register(lambda: print('click' in sys.modules, file=sys.stderr))\n"
                f"sys.argv = ['corral', *{list(args)!r}]\n"
                "runpy.run_module('corral.cli', run_name='__main__')\n"]
    return subprocess.run([sys.executable, *code], env=env, capture_output=True, text=True,
                          timeout=30, cwd=tmp_path)


def test_the_fast_path_answers_as_the_full_one_without_click(tmp_path: Path) -> None:
    (tmp_path / "plain.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "directed.sh").write_text("#!/bin/sh\n#CORRAL -J x\necho hi\n")
    fast = _corral(tmp_path, "submit", "-H", "--wrap", "true", probe=True)
    fast_script = _corral(tmp_path, "submit", "plain.sh", probe=True)
    full = _corral(tmp_path, "submit", "--json", "--wrap", "true", probe=True)
    directed = _corral(tmp_path, "submit", "directed.sh", probe=True)
    line = (f"corral submit: error: controller: nothing answers at unix://{tmp_path}/"
            "corral.sock (is it up? try 'corral up')")
    assert fast.stderr.splitlines() == [line, "False"] and fast.returncode == 1
    assert fast_script.stderr.splitlines() == [line, "False"]
    assert full.stderr.splitlines() == [line, "True"] and full.returncode == 1
    assert directed.stderr.splitlines() == [line, "True"]
    bad = _corral(tmp_path, "submit", "--mem", "lots", "--wrap", "true")
    assert bad.returncode == 2 and bad.stderr.startswith("corral submit: error: mem: 'lots'")
