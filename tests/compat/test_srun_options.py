"""srun's task and node counts, as Slurm reads them (no controller needed)."""

from __future__ import annotations

import pytest

from corral.compat.slurm.srun import step_options


@pytest.mark.parametrize(("opts", "want"), [
    # Open MPI's launcher: one daemon per node of the allocation
    ({"ntasks": "2", "ntasks_per_node": "1"}, (2, 2)),
    ({"ntasks": "5", "ntasks_per_node": "2"}, (5, 3)),
    ({"ntasks_per_node": "2"}, (4, 2)),  # every node of the job, two on each
    ({"nodes": "2", "ntasks_per_node": "3"}, (6, 2)),
    ({}, (4, None)),  # the job's SLURM_NTASKS
    ({"ntasks": "3"}, (3, None)),
])
def test_tasks_and_nodes_inside_a_job(monkeypatch: pytest.MonkeyPatch,
                                      opts: dict[str, str],
                                      want: tuple[int | None, int | None]) -> None:
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_JOB_NUM_NODES", "2")
    got = step_options(opts, ["x"], inside=True)
    assert (got.ntasks, got.nodes) == want
