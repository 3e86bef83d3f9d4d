"""A pilot's view of its allocation and when it leaves (corral.agent.pilot)."""

from __future__ import annotations

from corral.agent.pilot import Allocation, PilotSettings, allocation, why_leave


def test_the_allocation_is_read_from_the_batch_systems_environment() -> None:
    assert allocation({"SLURM_JOB_ID": "12", "SLURM_CPUS_ON_NODE": "4",
                       "SLURM_MEM_PER_NODE": "2000"}) == Allocation("12", 4, 2000)
    assert allocation({"JOB_ID": "7", "NSLOTS": "2"}) == Allocation("7", 2, None)
    assert allocation({"JOB_ID": "7", "NSLOTS": "x"}) == Allocation("7", None, None)
    assert allocation({}) == Allocation("", None, None)


def test_a_pilot_leaves_when_idle_long_enough_or_at_its_deadline() -> None:
    s = PilotSettings("far", deadline=1000.0, idle_timeout_s=30)
    assert why_leave(s, 500.0, None) is None  # busy
    assert why_leave(s, 500.0, 480.0) is None  # idle for 20 s only
    assert why_leave(s, 500.0, 470.0) == "idle for 30 s"
    assert why_leave(s, 1000.0, 999.0) == "deadline reached"
    assert why_leave(s, 1001.0, None) is None  # a job still runs: it ends first
