"""Cluster-wide licenses in the scheduling core."""

from __future__ import annotations

import dataclasses

import pytest

from corral.model.errors import Infeasible, InvalidRequest
from corral.model.licenses import check_against, format_licenses, parse_licenses
from corral.sched import EASY, run_cycle
from corral.sched.types import Reason

from .helpers import node, pend, run, snap

MATLAB = (("matlab", 1),)


def test_three_one_license_jobs_on_a_pool_of_two() -> None:
    s = dataclasses.replace(
        snap([node("n1", cpus=8)], [], [pend(i, t_submit=i, licenses=MATLAB) for i in (1, 2, 3)]),
        licenses={"matlab": 2})
    d = run_cycle(s, EASY(), now=10.0)
    assert [st.job_id for st in d.starts] == [1, 2]
    assert d.pending[3].reason == Reason.LICENSES


def test_licenses_held_by_running_jobs_count() -> None:
    held = dataclasses.replace(run(9, ("n1",), 1, 1000.0), licenses=(("matlab", 2),))
    s = dataclasses.replace(
        snap([node("n1", cpus=8)], [held],
             [pend(1, licenses=MATLAB), pend(2, t_submit=1.0), pend(3, t_submit=2.0,
                                                                licenses=(("comsol", 1),))]),
        licenses={"matlab": 2, "comsol": 1})
    d = run_cycle(s, EASY(), now=10.0)
    assert sorted(st.job_id for st in d.starts) == [2, 3]  # others start past the waiter
    assert d.pending[1].reason == Reason.LICENSES


def test_parse_and_check() -> None:
    assert parse_licenses("matlab:2, comsol,matlab") == (("comsol", 1), ("matlab", 3))
    assert format_licenses(parse_licenses("b,a:2")) == "a:2,b:1"
    for bad, message in [("a|b", "'|' (any of) is not supported"), ("x:0", "1-2147483647"),
                         ("bad name", "is not name[:count]"), (",", "names no license")]:
        with pytest.raises(InvalidRequest, match=message.replace("|", r"\|").replace(
                "(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
            parse_licenses(bad)
    with pytest.raises(Infeasible, match="asks 3 matlab; the cluster has 2"):
        check_against(parse_licenses("matlab:3"), {"matlab": 2})
    with pytest.raises(InvalidRequest, match=r"'ansys' is not a license of this cluster "
                                             r"\(have: matlab\)"):
        check_against(parse_licenses("ansys"), {"matlab": 2})
