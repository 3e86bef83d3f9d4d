"""srun --multi-prog config files: parsing, coverage, and the per-task program run by sh."""

from __future__ import annotations

import os
import subprocess

import pytest

from corral.compat.slurm.multiprog import MultiProgError, check_covers, parse, shell_program

CONF = """\
# rank  program
0       echo first %t
1-2,4   echo "mid dle" %t/%o '$HOME' 100%%   # a comment
*       echo rest %t \\
        continued
"""


def _run(program: str, rank: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", program, "multi-prog"], capture_output=True,
                          text=True, env={**os.environ, "SLURM_PROCID": str(rank)},
                          timeout=10)


def test_each_task_runs_its_line_with_rank_and_offset() -> None:
    lines = parse(CONF, "app.conf")
    check_covers(lines, 6, "app.conf")
    program = shell_program(lines, "app.conf")
    out = [_run(program, r).stdout for r in range(6)]
    assert out == ["first 0\n", "mid dle 1/0 $HOME 100%\n", "mid dle 2/1 $HOME 100%\n",
                   "rest 3 continued\n", "mid dle 4/2 $HOME 100%\n", "rest 5 continued\n"]


def test_a_task_without_a_line_fails_at_run_time_when_ntasks_was_unknown() -> None:
    program = shell_program(parse("0 true\n", "a.conf"), "a.conf")
    p = _run(program, 1)
    assert p.returncode == 1
    assert p.stderr.strip() == "srun: error: a.conf: no program for task 1"


@pytest.mark.parametrize(("text", "ntasks", "message"), [
    ("0-1 true\n", 3, "a.conf: no program for task 2 of the 3"),
    ("0-4 true\n", 3, "a.conf: names task 3, but the step has 3 task(s) (0 to 2)"),
    ("x true\n", None, "a.conf line 1: task ranks 'x': expected ranks such as 0, 1-3,5 or *"),
    ("3-1 true\n", None, "a.conf line 1: task range '3-1' is empty or out of bounds"),
    ("0 true\n0 false\n", None, "a.conf line 2: task 0 is already given a program on line 1"),
    ("* true\n* false\n", None, "a.conf line 2: a second '*' line (the first is line 1)"),
    ("0\n", None, "a.conf line 1: '0' names no program"),
    ("# nothing\n", None, "a.conf: no program lines"),
    ("0 echo 'open\n", None, "a.conf line 1: No closing quotation"),
])
def test_bad_config_files_are_refused_naming_the_line(text: str, ntasks: int | None,
                                                       message: str) -> None:
    with pytest.raises(MultiProgError) as err:
        lines = parse(text, "a.conf")
        if ntasks is not None:
            check_covers(lines, ntasks, "a.conf")
    assert str(err.value).startswith(message), str(err.value)
