"""The site's UWS template (config [uws], services/uws/template.py) and the UWS edge's
pure parts: parameters checked and shell-quoted into the job's script, the
configuration's own mistakes refused at load, corral states mapped to UWS phases."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from pydantic import ValidationError

from corral.api.uws import form
from corral.api.uws.phases import PHASE_OF_STATE, Phase
from corral.api.uws.xml import iso
from corral.config import UwsConfig
from corral.model.errors import InvalidRequest
from corral.model.states import JobState
from corral.services.uws import template


def site(**kw: Any) -> UwsConfig:
    base: dict[str, Any] = {
        "enabled": True, "command": "echo {message} > out.txt; echo ${HOME:+x} {n}",
        "parameters": {"message": {"default": "hi"}, "n": {"pattern": "[0-9]+"}},
        "results": ["out.txt"]}
    base.update(kw)
    return UwsConfig.model_validate(base)


def test_parameters_are_checked_defaulted_and_case_insensitive() -> None:
    cfg = site()
    assert template.checked_parameters(cfg, [("N", "3")]) == {"message": "hi", "n": "3"}
    with pytest.raises(InvalidRequest, match=r"parameter 'n': required"):
        template.checked_parameters(cfg, [])
    with pytest.raises(InvalidRequest, match=r"'colour': not a parameter of this service "
                                             r"\(it takes: message, n\)"):
        template.checked_parameters(cfg, [("colour", "red"), ("n", "1")])
    with pytest.raises(InvalidRequest, match=r"does not match '\[0-9\]\+'"):
        template.checked_parameters(cfg, [("n", "1 2")])
    with pytest.raises(InvalidRequest, match="given twice"):
        template.checked_parameters(cfg, [("n", "1"), ("N", "2")])
    with pytest.raises(InvalidRequest, match="U\\+0000"):
        template.checked_parameters(cfg, [("n", "1"), ("message", "a\0b")])


def test_values_reach_the_shell_as_words_never_as_code(tmp_path: Any) -> None:
    cfg = site()
    hostile = "$(touch pwned); `touch pwned` 'q\" ; touch pwned"
    params = template.checked_parameters(cfg, [("message", hostile), ("n", "7")])
    script = template.script(cfg, params, "uws-abc")
    subprocess.run(["/bin/sh", "-c", script], cwd=tmp_path, check=True, timeout=10,
                   capture_output=True)
    assert (tmp_path / "uws-abc" / "out.txt").read_text() == hostile + "\n"
    assert not any(p.name == "pwned" for p in tmp_path.rglob("*"))
    spec = template.job_spec(cfg, params, "uws-abc", "alice", 120)
    assert spec.time_limit_s == 120 and spec.stdout == "uws-abc.out"
    assert spec.output_sandbox == ("uws-abc.out", "uws-abc/out.txt")


@pytest.mark.parametrize(("kw", "words"), [
    ({"command": "echo {missing}"}, "{missing} is not in uws.parameters"),
    ({"parameters": {"PHASE": {}}, "command": "true"}, "UWS control parameter"),
    ({"parameters": {"a": {}, "A": {}}, "command": "true"}, "differ only in case"),
    ({"command": " "}, "uws.command: empty"),
    ({"parameters": {"a": {"pattern": "("}}, "command": "true"}, "not a regular expression"),
    ({"execution_duration_s": 10, "max_execution_duration_s": 5}, "over max_execution"),
    ({"path": "/uws/"}, "path"),
])
def test_configuration_mistakes_are_refused(kw: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words.replace("{", r"\{").replace("(", r"\(")):
        site(**kw)


def test_every_job_state_has_a_phase_and_times_are_utc() -> None:
    assert set(PHASE_OF_STATE) == set(JobState)
    assert PHASE_OF_STATE[JobState.PENDING] == Phase.QUEUED
    assert PHASE_OF_STATE[JobState.TIMEOUT] == Phase.ABORTED
    assert iso(0.0) == "1970-01-01T00:00:00.000Z" and iso(1.9996) == "1970-01-01T00:00:02.000Z"


@pytest.mark.parametrize(("value", "words"), [
    ("9" * 40, "over the maximum of 10"), ("-" + "9" * 40, "below the minimum of -1"),
    ("1.5", "not an integer"), ("", "not an integer"), ("11", "over the maximum of 10"),
])
def test_integers_out_of_range_are_one_line(value: str, words: str) -> None:
    with pytest.raises(InvalidRequest, match=words):
        form.integer("WAIT", value, -1, 10)
    assert form.integer("WAIT", " 7 ", -1, 10) == 7
    assert form.instant("AFTER", "1970-01-01T00:00:01Z") == 1.0


def test_file_parameters_are_staged_inputs_named_by_their_path() -> None:
    cfg = site(command="wc -l {table} {n}", parameters={
        "table": {"file": True}, "n": {"default": "1"}})
    assert template.checked_files(cfg, ["TABLE"]) == ["table"]
    with pytest.raises(InvalidRequest, match=r"'n': not a file parameter"):
        template.checked_files(cfg, ["n"])
    with pytest.raises(InvalidRequest, match=r"'table': given twice"):
        template.checked_files(cfg, ["table", "Table"])
    with pytest.raises(InvalidRequest, match=r"'table': required"):
        template.checked_parameters(cfg, [])
    with pytest.raises(InvalidRequest, match=r"'table': '/etc/passwd' is not a file"):
        template.checked_parameters(cfg, [("table", "/etc/passwd")])
    assert template.checked_parameters(cfg, [], files=["table"]) == {"n": "1"}
    digest = "ab" * 32
    spec = template.job_spec(cfg, {"n": "1"}, "uws-0123", "alice", 60, {"table": digest})
    assert spec.input_sandbox == (f"{digest}:644:uws-0123.table",)
    assert "wc -l /tmp/uws-0123.table 1" in spec.script
    spec = site(working_dir="/scratch/%u/", command="cat {table}",
                parameters={"table": {"file": True}})
    assert "cat /scratch/bob/uws-9.table" in template.job_spec(
        spec, {}, "uws-9", "bob", 60, {"table": digest}).script


@pytest.mark.parametrize(("kw", "words"), [
    ({"parameters": {"t": {"file": True, "pattern": "x"}}, "command": "cat {t}"},
     "a file parameter's value is a file"),
    ({"public_url": "ftp://gateway/uws"}, "public_url"),
    ({"public_url": "https://gateway/uws?x=1"}, "public_url"),
])
def test_file_and_public_url_mistakes_are_refused(kw: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        site(**kw)
    assert site(public_url="https://gateway.example.org/astro/uws").public_url
