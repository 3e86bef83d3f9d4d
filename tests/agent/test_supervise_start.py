"""The supervisor starts once per job: it reads and writes JSON as the json module
does, without importing it (or signal's enums)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from corral.agent import supervise

SAMPLES: list[object] = [
    {"spawn": {"argv": ["/bin/sh", "-c", "echo é \"q\" \\\\ \n"], "env": {"K": "v", "Ü": "\u2603"},
               "switch": False, "uid": 0, "groups": [], "job_id": 12, "kill_grace_s": 5.5,
               "term_signal": 15, "lease_file": None, "cgroup": None}},
    {"status": 256, "cpu_s": 0.123456, "t_end": 1764400000.123, "lease_lapsed": True},
    [1, -2, 3.5e-7, 1e300, "", None, False, {}],
]


@pytest.mark.parametrize("data", SAMPLES)
def test_json_as_the_json_module(data: object) -> None:
    text = json.dumps(data)
    assert supervise.dumps(data) == text
    assert supervise.loads(text) == data
    assert supervise.loads(json.dumps(data, indent=2) + "\n") == data


def test_json_refusals_are_value_errors() -> None:
    for bad in ("", "{", '{"a": 1} x', "[1,]"):
        with pytest.raises(ValueError):
            supervise.loads(bad)
    assert math.isnan(supervise.loads("NaN"))
    with pytest.raises(TypeError):
        supervise.dumps({"a": object()})


def test_the_supervisor_imports_no_json_nor_enum(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", supervise.__file__,
                        str(tmp_path / "none")], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "cannot read the job's launch record" in p.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"json", "enum", "signal", "re"}, imported
