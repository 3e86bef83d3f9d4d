"""Values many jobs hold alike are kept once (model/shared.py)."""

from __future__ import annotations

import gc

from corral.model import shared
from corral.model.job import JobSpec


def _spec(**kw: object) -> JobSpec:
    d: dict[str, object] = {"name": "a", "working_dir": "/w", "argv": ["true"],
                            "environment": {"HOME": "/home/u", "PATH": "/bin"}}
    d.update(kw)
    return JobSpec.from_dict(d)


def test_equal_environments_are_one_object() -> None:
    a = _spec(name="a")
    b = _spec(name="b", environment={"HOME": "/home/u", "PATH": "/bin"})
    assert a.environment is b.environment
    assert a.environment == {"HOME": "/home/u", "PATH": "/bin"}
    assert a.working_dir is b.working_dir


def test_environments_differing_in_a_value_or_the_order_are_not_shared() -> None:
    a = _spec()
    b = _spec(environment={"HOME": "/home/v", "PATH": "/bin"})
    c = _spec(environment={"PATH": "/bin", "HOME": "/home/u"})
    assert a.environment is not b.environment
    assert a.environment is not c.environment
    assert list(c.environment) == ["PATH", "HOME"]  # a rendering keeps the order


def test_an_environment_no_job_holds_is_forgotten() -> None:
    env = {"ONLY_HERE": "x" * 50}
    spec = _spec(environment=env)
    key = ("ONLY_HERE", "x" * 50)
    assert shared._environments.get(key) is spec.environment
    del spec
    gc.collect()
    assert shared._environments.get(key) is None


def test_a_spec_round_trips_unchanged() -> None:
    a = _spec(stdout="o-%j", script="#!/bin/sh\ntrue\n", argv=[])
    assert JobSpec.from_dict(a.to_dict()) == a


def test_equal_command_lines_are_one_tuple_and_a_full_table_starts_again() -> None:
    a = _spec(name="a", argv=["python", "run.py", "--fast"])
    b = _spec(name="b", argv=["python", "run.py", "--fast"])
    c = _spec(name="c", argv=["python", "run.py"])
    assert a.argv is b.argv and a.argv == ("python", "run.py", "--fast")
    assert c.argv is not a.argv and c.argv == ("python", "run.py")
    assert _spec(argv=[]).argv == ()
    for i in range(shared.MAX_SHARED_TUPLES + 1):  # bounded: cleared when full
        shared.shared_texts([f"x{i}"])
    assert len(shared._tuples) <= shared.MAX_SHARED_TUPLES
    d = _spec(name="d", argv=["python", "run.py", "--fast"])
    assert d.argv == a.argv and a.argv == ("python", "run.py", "--fast")
