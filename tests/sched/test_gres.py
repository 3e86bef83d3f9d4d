"""Generic resources per node in the scheduler core (sched/gres.py, node machine)."""

from __future__ import annotations

import dataclasses

from corral.sched import EASY, run_cycle
from corral.sched.gres import GresLedger, intersect
from corral.sched.types import Reason
from corral.sched.will_run import will_run

from .helpers import node, pend, run, snap

NVME = (("nvme", 1),)


def _gres(n, total, free=None):  # type: ignore[no-untyped-def]
    return dataclasses.replace(n, gres=total, gres_free=free if free is not None else total)


def test_a_job_waits_for_the_only_free_nvme_and_others_pass_it() -> None:
    nodes = [_gres(node("n1", cpus=8), NVME), node("n2", cpus=8)]
    jobs = [pend(1, gres_per_node=NVME), pend(2, t_submit=1, gres_per_node=NVME),
            pend(3, t_submit=2)]
    d = run_cycle(snap(nodes, [], jobs), EASY(), now=10.0)
    starts = {st.job_id: st.nodes for st in d.starts}
    assert starts[1] == ("n1",) and 2 not in starts and 3 in starts
    assert d.pending[2].reason == Reason.RESOURCES
    assert d.pending[2].t_expected_start == 110.0  # when job 1's limit ends


def test_held_by_a_running_job_and_released_at_its_end() -> None:
    nodes = [_gres(node("n1", cpus=8), (("fpga:xilinx", 2),), (("fpga:xilinx", 0),))]
    held = dataclasses.replace(run(9, ("n1",), 1, 500.0), gres_per_node=(("fpga:xilinx", 2),))
    job = pend(1, gres_per_node=(("fpga:xilinx", 1),))
    s = snap(nodes, [held], [job])
    d = run_cycle(s, EASY(), now=10.0)
    assert not d.starts and d.pending[1].reason == Reason.RESOURCES
    assert d.pending[1].t_expected_start == 500.0
    assert will_run(s, EASY(), job, 10.0) == (500.0, ("n1",))


def test_no_node_has_it_or_enough_of_it() -> None:
    nodes = [_gres(node("n1"), NVME)]
    for asks in ((("fpga", 1),), (("nvme", 2),)):
        d = run_cycle(snap(nodes, [], [pend(1, gres_per_node=asks)]), EASY(), now=0.0)
        assert not d.starts and d.pending[1].reason == Reason.PARTITION_NODE_LIMIT


def test_backfill_does_not_delay_the_waiting_gres_job() -> None:
    nodes = [_gres(node("n1", cpus=4), NVME, (("nvme", 0),))]
    held = dataclasses.replace(run(9, ("n1",), 1, 100.0), gres_per_node=NVME)
    jobs = [pend(1, gres_per_node=NVME, limit_s=50),  # first in line: at 100
            pend(2, t_submit=1, gres_per_node=NVME, limit_s=10),  # would take it
            pend(3, t_submit=2, limit_s=1000)]  # no gres: runs now
    d = run_cycle(snap(nodes, [held], jobs), EASY(), now=0.0)
    assert [st.job_id for st in d.starts] == [3]
    assert d.pending[1].t_expected_start == 100.0


def test_ledger_intervals() -> None:
    g = GresLedger((("nvme", 2),), (("nvme", 1),))
    g.rel.append((50.0, (("nvme", 1),)))
    g.book((("nvme", 2),), 100.0, 200.0)
    assert g.feasible_starts((("nvme", 1),), 10.0, 0.0) == [(0.0, 90.0), (200.0, float("inf"))]
    assert g.feasible_starts((("nvme", 2),), 10.0, 0.0) == [(50.0, 90.0),
                                                            (200.0, float("inf"))]
    assert intersect([(0.0, 5.0), (8.0, 9.0)], [(4.0, 8.5)]) == [(4.0, 5.0), (8.0, 8.5)]
    assert g.has((("nvme", 2),)) and not g.has((("nvme", 3),))
