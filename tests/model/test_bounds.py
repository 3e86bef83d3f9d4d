"""The one table of bounds: every number in range, every name clean, or a one-line refusal."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.model import bounds
from corral.model.arrays import parse_array
from corral.model.deps import parse_dependency
from corral.model.errors import InvalidRequest
from corral.model.job import JobSpec
from corral.model.units import parse_duration_s, parse_mem_mb

SPEC = JobSpec(name="ok", working_dir="/tmp", argv=("true",))


@pytest.mark.parametrize(("change", "words"), [
    ({"time_limit_s": 2**63}, "time_limit_s: 9223372036854775808 is over the maximum of "
                              "2147483647"),
    ({"priority": 10**400}, "is over the maximum of 4294967295"),
    ({"nice": -10001}, "nice: -10001 is below the minimum of -10000"),
    ({"nodes": 0}, "nodes: 0 is below the minimum of 1"),
    ({"cpus_per_node": 5_500_000_000}, "cpus_per_node: 5500000000 is over the maximum"),
    ({"mem_mb_per_node": 2**31}, "mem_mb_per_node: 2147483648 is over the maximum"),
    ({"gpus_per_node": 1025}, "gpus_per_node: 1025 is over the maximum of 1024"),
    ({"t_begin": math.nan}, "t_begin: nan is not a finite number"),
    ({"t_begin": math.inf}, "t_begin: inf is not a finite number"),
    ({"t_begin": 1e300}, "t_begin: 1e+300 is over the maximum"),
    ({"name": "a\x00b"}, r"name: 'a\x00b' contains the control character U+0000"),
    ({"name": "a\nb"}, "contains the control character U+000A"),
    ({"name": ""}, "name: '' is empty"),
    ({"name": "x" * 201}, "has 201 characters, over the limit of 200"),
    ({"working_dir": "/tmp/\x00"}, "working_dir: '/tmp/\\x00' contains the character U+0000"),
    ({"argv": ("a\ud800",)}, "argv: 'a\\ud800' contains the character U+D800"),
    ({"environment": {"K": "v\x00"}}, "environment[K]"),
    ({"environment": {"A": "ok", "K": "v\ud800"}}, "environment[K]: 'v\\ud800' contains"),
    ({"environment": {"A": "ok", "K\x00": "v"}}, "environment: 'K\\x00' contains"),
    ({"environment": {"K" * 4097: "v"}}, "has 4097 characters, over the limit of 4096"),
    ({"environment": {"A": "ok", "K": 7}}, "environment[K]: 7 is not a string"),
    ({"partition": "p\x1b"}, "partition: 'p\\x1b' contains the control character U+001B"),
    ({"features": ("ok", "")}, "features: '' is empty"),
])
def test_a_spec_out_of_bounds_is_refused_naming_field_value_and_limit(
        change: dict[str, object], words: str) -> None:
    spec = dataclasses.replace(SPEC, **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest) as err:
        bounds.check_spec(spec)
    assert words in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_a_spec_within_bounds_passes() -> None:
    bounds.check_spec(dataclasses.replace(
        SPEC, time_limit_s=bounds.TIME_LIMIT_S[1], priority=bounds.PRIORITY[1], nice=-10000,
        mem_mb_per_node=bounds.MEM_MB[1], t_begin=bounds.EPOCH_S[1], name="é" * 200,
        environment={"PATH": "/bin\n"}, script="#!/bin/sh\n\techo ok\n"))


def test_node_registrations_need_a_host_name_and_sizes_in_range() -> None:
    bounds.check_node("n1.example-site_2", 128, 1024 * 1024, 8, ("avx2",))
    for args, words in [
        (("", 1, 1, 0, ()), "node: '' is empty"),
        (("a\x01b", 1, 1, 0, ()), "control character U+0001"),
        (("a b", 1, 1, 0, ()), "is not a host name"),
        (("n", 5_500_000_000, 1, 0, ()), "cpus: 5500000000 is over the maximum of 100000"),
        (("n", 1, 10**20, 0, ()), "mem_mb: 100000000000000000000 is over the maximum"),
        (("n", 1, 1, -1, ()), "gpus: -1 is below the minimum of 0"),
        (("n", 1, 1, 0, ("x\x00",)), "features: 'x\\x00'"),
    ]:
        with pytest.raises(InvalidRequest, match=None) as err:
            bounds.check_node(*args)  # type: ignore[arg-type]
        assert words in str(err.value)


def test_huge_ids_in_dependencies_are_refused_not_looked_up() -> None:
    with pytest.raises(InvalidRequest, match="is over the maximum of 2147483647"):
        parse_dependency("afterok:" + "9" * 30)
    with pytest.raises(InvalidRequest, match="'0' in 'afterok:0' is not a job id"):
        parse_dependency("afterok:0")
    with pytest.raises(InvalidRequest, match="is not a job id"):
        parse_dependency("afterany:5_99999999999")
    assert parse_dependency(f"afterok:{bounds.JOB_ID[1]}")[0].targets[0].job_id == 2**31 - 1


def test_array_throttles_are_ascii_numbers_in_range() -> None:
    for text in ("0-3%²", "0-3%" + "9" * 5000, "0-3%0", "0-3%100001"):
        with pytest.raises(InvalidRequest, match="bad %N throttle") as err:
            parse_array(text)
        assert len(str(err.value)) < 200
    assert parse_array("0-3%2").throttle == 2


def test_time_and_memory_sizes_have_a_maximum() -> None:
    with pytest.raises(InvalidRequest, match="over the maximum of 2147483647 seconds"):
        parse_duration_s("time", "99999999999")
    with pytest.raises(InvalidRequest, match="over the maximum of 2147483647 MiB"):
        parse_mem_mb("mem", "9" * 400 + "T")
    assert parse_duration_s("time", "24855-03:14:07") == 2**31 - 1


def test_shown_values_stay_short_whatever_they_are() -> None:
    assert bounds.shown(10**5000).startswith("an integer of about 5001 digits")
    assert len(bounds.shown("x" * 10_000)) == 60


@given(st.text(max_size=50))
def test_names_without_control_characters_pass_and_others_do_not(text: str) -> None:
    control = any(ord(c) < 32 or 127 <= ord(c) < 160 or c in "\u2028\u2029"
                  or 0xD800 <= ord(c) <= 0xDFFF for c in text)
    problem = bounds.name_problem(text, 50)
    assert (problem is None) == (bool(text) and not control)
