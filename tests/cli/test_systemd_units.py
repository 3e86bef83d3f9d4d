"""The systemd unit files shipped in the package (src/corral/data/systemd) are
well formed and say what docs/deployment.md says: each ExecStart names one of the
package's programs with options it takes (run with --help), each unit runs as the
user and reads the configuration the deployment guide installs, and every
CORRAL_* variable a unit sets or documents is one corral reads."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import corral

PACKAGE = Path(corral.__file__).resolve().parent
SRC = PACKAGE.parent
ROOT = SRC.parent
UNITS = sorted((PACKAGE / "data" / "systemd").glob("*.service"))
DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
SCRIPTS: dict[str, str] = tomllib.loads(
    (ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
# unit -> (User, what it reads: the configuration files the deployment guide names)
EXPECTED = {
    "corral-controller.service": ("corral", ["/etc/corral/corral.toml"]),
    "corral-agent.service": ("root", ["/etc/corral/agent.env"]),
    "corral-relay.service": ("root", ["/etc/corral/relay.env", "/etc/corral/relay.key"]),
}


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """Sections -> their (key, value) lines in order (a key may repeat, as
    Environment= does); comments and blank lines skipped. A line outside a section or
    without `=` is an error."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if m := re.fullmatch(r"\[([A-Za-z]+)\]", line):
            current = sections.setdefault(m.group(1), [])
            continue
        key, eq, value = line.partition("=")
        if current is None or not eq or not re.fullmatch(r"[A-Za-z]+", key.strip()):
            raise ValueError(f"line {n}: {line!r} is not KEY=VALUE inside a section")
        current.append((key.strip(), value.strip()))
    return sections


def _values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def test_the_units_shipped_are_the_ones_checked() -> None:
    assert [u.name for u in UNITS] == sorted(EXPECTED)


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_a_unit_is_well_formed_and_its_program_takes_its_arguments(unit: Path) -> None:
    text = unit.read_text(encoding="utf-8")
    sections = parse_unit(text)
    assert set(sections) == {"Unit", "Service", "Install"}
    assert _values(sections["Unit"], "Description")
    assert _values(sections["Install"], "WantedBy") == ["multi-user.target"]
    service = sections["Service"]
    (exec_start,) = _values(service, "ExecStart")
    argv = shlex.split(exec_start)
    path = Path(argv[0])
    assert path.parent == Path("/usr/local/bin"), exec_start  # where pip puts scripts
    assert path.name in SCRIPTS, f"{path.name} is not one of the package's programs"
    module, func = SCRIPTS[path.name].split(":")
    # the program with the unit's arguments and --help: an option it does not take
    # is an error (click parses every argument before it answers --help)
    p = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.argv[0] = {path.name!r}; "
                               f"from {module} import {func}; {func}()", *argv[1:], "--help"],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, (exec_start, p.stdout, p.stderr)
    assert p.stdout.startswith("Usage: "), p.stdout
    for option in (a.split("=")[0] for a in argv[1:] if a.startswith("--")):
        assert option in p.stdout, (option, p.stdout)

    user, reads = EXPECTED[unit.name]
    assert _values(service, "User") == [user]
    if user != "root":
        assert _values(service, "Group") == [user]
        assert f"useradd --system {user}" in DEPLOYMENT
    for path_text in reads:
        assert path_text in text, (unit.name, path_text)
        assert path_text in DEPLOYMENT, path_text
    # every CORRAL_* name a unit sets or documents is read by corral
    source = "\n".join(f.read_text(encoding="utf-8") for f in PACKAGE.rglob("*.py"))
    for name in set(re.findall(r"\bCORRAL_[A-Z_]+\b", text)):
        assert f'"{name}"' in source, f"{unit.name}: {name} is read nowhere"


def test_the_parser_refuses_a_malformed_unit() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_unit("[Service]\nExecStart /usr/local/bin/corral-agent\n")
    with pytest.raises(ValueError, match="line 1"):
        parse_unit("User=root\n")
