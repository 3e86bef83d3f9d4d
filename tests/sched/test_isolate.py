"""A job the core fails on is found (and only it); unlimited jobs start."""

from __future__ import annotations

import math

import pytest

from corral import sched
from corral.sched.isolate import failing_jobs
from corral.sched.policies import FCFS, Policy
from corral.sched.request import Req
from tests.sched.helpers import node, pend, snap


def test_a_job_whose_priority_cannot_be_computed_is_found() -> None:
    # An administrator's priority of 10**400 (as older versions stored it) is
    # beyond a float: scoring it raises, and with it the whole cycle.
    jobs = [pend(i, t_submit=float(i)) for i in range(1, 40)]
    jobs[17] = pend(18, t_submit=18.0, admin_priority=10**400, held=True)
    jobs[30] = pend(31, t_submit=31.0, admin_priority=10**400)
    s = snap([node("a"), node("b")], [], jobs)
    with pytest.raises(OverflowError):
        sched.run_cycle(s, FCFS(), 100.0)
    found = failing_jobs(s, FCFS(), 100.0)
    assert sorted(found) == [18, 31]
    assert found[18].startswith("OverflowError: ")


class _FailsOn(FCFS):
    """A policy with a bug that only one job triggers."""

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id

    def prepare(self, queue: list[Req], user_runtimes: dict[str, float] | None) -> None:
        if any(r.job_id == self.job_id for r in queue):
            raise ZeroDivisionError("division by zero")
        super().prepare(queue, user_runtimes)


def test_a_policy_that_raises_on_one_job_is_traced_to_it() -> None:
    s = snap([node("a")], [], [pend(i, t_submit=float(i)) for i in range(1, 101)])
    policy: Policy = _FailsOn(77)
    assert failing_jobs(s, policy, 10.0) == {77: "ZeroDivisionError: division by zero"}


def test_nothing_is_found_when_nothing_fails() -> None:
    s = snap([node("a")], [], [pend(i) for i in range(1, 5)])
    assert failing_jobs(s, FCFS(), 10.0) == {}


@pytest.mark.parametrize("name", sorted(sched.POLICIES))
def test_a_job_without_a_time_limit_starts_on_a_free_node(name: str) -> None:
    s = snap([node("a", cpus=1)], [], [pend(1, limit_s=math.inf)])
    decisions = sched.run_cycle(s, sched.POLICIES[name](), 100.0)
    assert [st.job_id for st in decisions.starts] == [1]
