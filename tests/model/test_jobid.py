"""The one job-id parser: strict, so that `57_5` never becomes job 575."""

from __future__ import annotations

import pytest

from corral.model.deps import Target, parse_dependency
from corral.model.errors import InvalidRequest
from corral.model.jobid import (
    JobRef,
    parse_job_id,
    parse_job_ref,
    parse_job_refs,
    parse_step_id,
    split_ids,
)


def test_plain_ids() -> None:
    assert parse_job_id("575") == 575
    assert parse_job_id("0575") == 575


@pytest.mark.parametrize("text", ["57_5", "1_000", " 5", "5 ", "+5", "-5", "5.0", "0x1f",
                                  "\u0665", "\u00b2", "", "0", "2147483648", "five"])
def test_what_int_would_take_is_not_a_job_id(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^job: .* is not a job id"):
        parse_job_id(text)


def test_array_tasks_and_steps() -> None:
    assert parse_job_ref("57_5") == JobRef("57_5", 57, (5,))
    assert parse_job_ref("57_[1-3,7]") == JobRef("57_[1-3,7]", 57, (1, 2, 3, 7))
    assert parse_job_ref("57_[1-3%2]").tasks == (1, 2, 3)  # as squeue shows a throttle
    assert parse_job_ref("57") == JobRef("57", 57)
    ref = parse_job_ref("57.3", steps=True)
    assert (ref.job_id, ref.tasks, ref.step, ref.step_id) == (57, None, "3", 3)
    ref = parse_job_ref("57_2.batch", steps=True)
    assert (ref.job_id, ref.tasks, ref.step, ref.step_id) == (57, (2,), "batch", None)


@pytest.mark.parametrize("text", ["57_5_5", "57__5", "57_", "_5", "57_[3-1]", "57_[]",
                                  "57_[1-]", "57_[a]", "57_x", "57.", "57.3.4", "57_[1-3"])
def test_malformed_forms(text: str) -> None:
    with pytest.raises(InvalidRequest, match="is not a job id"):
        parse_job_ref(text, steps=True)


def test_parts_a_caller_does_not_take_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="step ids are not taken here"):
        parse_job_ref("57.3")
    with pytest.raises(InvalidRequest, match="array task ids are not taken here"):
        parse_job_ref("57_3", tasks=False)
    with pytest.raises(InvalidRequest, match="step 'foo'"):
        parse_job_ref("57.foo", steps=True)


def test_lists_keep_bracketed_task_lists_whole() -> None:
    assert split_ids(["1,2_[3,5]", "7 8", ""]) == ["1", "2_[3,5]", "7", "8"]
    assert [r.job_id for r in parse_job_refs(["1,2_[3,5]"])] == [1, 2]
    with pytest.raises(InvalidRequest, match="'2_x'"):
        parse_job_refs(["1,2_x"])


def test_step_ids() -> None:
    assert parse_step_id("0") == 0
    with pytest.raises(InvalidRequest, match="is not a step id"):
        parse_step_id("1_0")


def test_dependencies_use_the_same_parser() -> None:
    (dep,) = parse_dependency("afterok:12_3:14")
    assert dep.targets == (Target(12, 3), Target(14))
    with pytest.raises(InvalidRequest, match="'1_2_3'"):
        parse_dependency("afterok:1_2_3")
