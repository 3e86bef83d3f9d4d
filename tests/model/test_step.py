"""Laying a step over a job's nodes, and the step stream's frames."""

from __future__ import annotations

import pytest

from corral.model.errors import InvalidRequest
from corral.model.step import FRAME_STDOUT, frame, parse_header, plan_step

NODES = ("n1", "n2", "n3")


def test_block_and_cyclic_distributions() -> None:
    block = plan_step(NODES[:2], 4, ntasks=5, nodes=2, cpus_per_task=1)
    assert block.tasks_per_node == (3, 2)
    assert [block.ranks_of(i) for i in range(2)] == [(0, 1, 2), (3, 4)]
    assert block.slurm_tasks_per_node() == "3,2"
    cyclic = plan_step(NODES[:2], 4, ntasks=5, nodes=2, cpus_per_task=1, distribution="cyclic")
    assert [cyclic.ranks_of(i) for i in range(2)] == [(0, 2, 4), (1, 3)]
    even = plan_step(NODES, 4, ntasks=6, nodes=None, cpus_per_task=2)
    assert even.nodes == NODES and even.slurm_tasks_per_node() == "2(x3)"


def test_defaults_and_nodelist() -> None:
    assert plan_step(NODES, 2, ntasks=None, nodes=None, cpus_per_task=1).tasks_per_node == (1,
                                                                                          1, 1)
    assert plan_step(NODES, 4, ntasks=3, nodes=None, cpus_per_task=1).nodes == ("n1",)
    chosen = plan_step(NODES, 2, ntasks=2, nodes=None, cpus_per_task=1, nodelist=("n3", "n1"))
    assert chosen.nodes == ("n1", "n3") and chosen.tasks_per_node == (1, 1)


@pytest.mark.parametrize(("kw", "message"), [
    ({"ntasks": 3, "nodes": 1, "cpus_per_task": 1},
     "ntasks: 3 tasks x 1 CPUs on 1 node(s) needs 3 CPUs on a node; the job has 2 per node"),
    ({"ntasks": 1, "nodes": 4, "cpus_per_task": 1}, "nodes: the step asks 4 nodes; the job has 3"),
    ({"ntasks": 1, "nodes": 2, "cpus_per_task": 1}, "ntasks: 1 tasks cannot cover 2 nodes"),
    ({"ntasks": 1, "nodes": None, "cpus_per_task": 1, "nodelist": ("n9",)},
     "nodelist: n9 not in the job's nodes (n1, n2, n3)"),
    ({"ntasks": 1, "nodes": None, "cpus_per_task": 1, "distribution": "plane"},
     "distribution: 'plane' is not one of block, cyclic"),
    ({"ntasks": 0, "nodes": None, "cpus_per_task": 1}, "ntasks: 0 is outside 1..100000"),
])
def test_refusals_name_the_field_and_the_limit(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        plan_step(NODES, 2, **kw)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_overcommit_allows_more_tasks_than_cpus() -> None:
    assert plan_step(NODES[:1], 2, ntasks=5, nodes=None, cpus_per_task=1,
                     overcommit=True).tasks_per_node == (5,)


def test_frames_round_trip_and_refuse_oversized_payloads() -> None:
    data = frame(FRAME_STDOUT, 7, b"hello")
    assert parse_header(data[:9]) == (FRAME_STDOUT, 7, 5) and data[9:] == b"hello"
    with pytest.raises(ValueError):
        parse_header(bytes([FRAME_STDOUT]) + (0).to_bytes(4, "big") + (2**21).to_bytes(4, "big"))
