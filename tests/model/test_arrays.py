"""An array's pending rest: its task set, its compressed display, its expansion."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from corral.model.arrays import (
    ArrayRest,
    TaskSet,
    array_throttle,
    expand_rest,
    format_task_ids,
    parse_array,
    task_index,
    task_job_id,
)
from corral.model.job import Job, JobSpec
from corral.model.states import JobState


def _template(array: str, job_id: int = 57) -> Job:
    spec = JobSpec(name="a", working_dir="/tmp", argv=("true",), array=array)
    return Job(id=job_id, spec=spec, user="u", uid=1000, gid=1000, state=JobState.PENDING,
               t_submit=1.0, partition="main", time_limit_s=60, mem_mb_per_node=None,
               array_job_id=job_id)


@given(st.integers(0, 300), st.lists(st.integers(0, 299), max_size=60))
def test_task_set_is_a_set(n: int, removed: list[int]) -> None:
    ts = TaskSet(n)
    model = set(range(n))
    for i in removed:
        assert ts.discard(i) == (i in model)
        model.discard(i)
    assert list(ts) == sorted(model) and len(ts) == len(model)
    assert ts.first(5) == sorted(model)[:5]
    assert all((i in ts) == (i in model) for i in range(-1, n + 1))
    assert len(ts.spans()) <= len(removed) + 1  # intervals, not one entry per task


@given(st.lists(st.integers(0, 200), max_size=50))
def test_formatted_task_ids_parse_back(ids: list[int]) -> None:
    want = sorted(set(ids))
    text = format_task_ids(want)
    assert (parse_array(text).task_ids if want else ()) == tuple(want)


def test_format_task_ids_as_slurm_shows_them() -> None:
    assert format_task_ids(range(5, 100_000)) == "5-99999"
    assert format_task_ids([1, 3, 5, 7, 9]) == "1-9:2"
    assert format_task_ids([1, 3, 4, 5, 9]) == "1,3-5,9"
    assert array_throttle("0-99999%4") == 4 and array_throttle("0-9") is None


def test_a_rest_of_100000_tasks_is_a_few_intervals() -> None:
    rest = ArrayRest(_template("0-99999%4"), taken=[0, 1, 7])
    assert len(rest.pending) == 99_997 and len(rest.pending.spans()) == 2
    assert rest.display_id == "57_[2-6,8-99999%4]"
    job = rest.take(2)
    assert (job.id, job.array_task_id, job.array_job_id) == (60, 2, 57)
    assert rest.first_ids(3) == [61, 62, 63] and rest.index_of(60) is None
    assert rest.view(50_000).display_id == "57_50000"
    assert rest.view(99_999).id == 57  # the last task keeps the array's id
    d = rest.to_dict()
    assert d["id"] == 57 and d["array_pending"] == "3-6,8-99999"
    assert d["array_pending_count"] == 99_996 and d["array_task_id"] is None


def test_a_stepped_rest_maps_ids_to_tasks_and_expands() -> None:
    rest = ArrayRest(_template("1-9:2", job_id=10))
    assert rest.take(1).id == 12  # task 3
    d = rest.to_dict()
    assert d["display_id"] == "10_[1,5-9:2]"
    tasks = expand_rest(d)
    assert [(t["id"], t["array_task_id"], t["display_id"]) for t in tasks] == [
        (11, 1, "10_1"), (13, 5, "10_5"), (14, 7, "10_7"), (10, 9, "10_9")]
    assert all("array_pending" not in t for t in tasks)


def test_task_ids_follow_slurm_the_last_task_keeps_the_arrays_id() -> None:
    """Slurm splits each started task off the pending array record under the next
    job id; the record itself, with the array's id, ends as the last task. Tools
    that read sacct's JobIDRaw and fall back from A_I to A (Snakemake's Slurm
    plugin) rely on A finishing last."""
    assert [task_job_id(100, 4, i) for i in range(4)] == [101, 102, 103, 100]
    assert [task_index(100, 4, j) for j in (100, 101, 102, 103)] == [3, 0, 1, 2]
    assert task_index(100, 4, 104) is None and task_index(100, 4, 99) is None
    assert task_job_id(7, 1, 0) == 7 and task_index(7, 1, 7) == 0
