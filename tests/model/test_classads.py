"""corral.lang.classads: HTCondor's ClassAd library, and the clause a refusal names."""

from __future__ import annotations

import pytest

from corral.lang.classads import (
    conjuncts,
    holds,
    make_ad,
    normalized,
    parse_expr,
    rank_of,
    unmet_clause,
)
from corral.model.errors import InvalidRequest


def test_top_level_clauses() -> None:
    text = ('other.Memory >= 8000 && (member("avx2", other.Features) || other.Cpus > 4) '
            '&& other.Name != "a&&b"')
    assert conjuncts(text) == ["other.Memory >= 8000",
                               '(member("avx2",other.Features) || other.Cpus > 4)',
                               'other.Name != "a&&b"']
    assert conjuncts("true") == ["true"]


def test_evaluation_follows_matchmaking() -> None:
    my = make_ad({"RequestCpus": 2})
    node = make_ad({"Cpus": 8, "Memory": 16000, "Features": ["avx2"]})
    assert holds(parse_expr("r", 'member("avx2", other.Features) && MY.RequestCpus <= '
                                  "TARGET.Cpus"), my, node)
    assert not holds(parse_expr("r", "other.Gpus > 0"), my, node)  # UNDEFINED: no
    assert not holds(parse_expr("r", "other.Cpus / 0 > 1"), my, node)  # ERROR: no
    assert holds(parse_expr("r", "other.Cpus"), my, node)  # a non-zero number: yes
    assert rank_of(parse_expr("r", "other.Memory / 1000.0"), my, node) == 16.0
    assert rank_of(parse_expr("r", "other.Nothing"), my, node) == 0.0
    small = make_ad({"Cpus": 2, "Memory": 4000, "Features": ["avx2"]})
    text = 'other.Memory >= 8000 && member("avx2", other.Features) && other.Cpus >= 16'
    assert unmet_clause(text, my, [node, small]) == "other.Cpus >= 16"
    assert normalized("r", "other.Cpus>=2") == "other.Cpus >= 2"


@pytest.mark.parametrize("text", ["other.Memory >=", "foo(", "", "[a = 1]", "x" * 10_001])
def test_bad_expressions_name_the_field(text: str) -> None:
    with pytest.raises(InvalidRequest, match=r"^requirements: "):
        parse_expr("requirements", text)


def test_a_name_the_job_lacks_is_the_nodes() -> None:
    """HTCondor's requirements name the machine's attributes without TARGET."""
    from corral.lang import classads

    node = classads.make_ad({"Cpus": 4, "Memory": 8000, "Features": ["avx2"]})
    job = classads.make_ad({"RequestCpus": 2})
    for text, want in [("Cpus >= 1", True), ("Memory > 9000", False),
                       ("RequestCpus <= Cpus", True), ("TARGET.Cpus >= MY.RequestCpus", True),
                       ('member("avx2", Features)', True)]:
        assert classads.holds(classads.parse_expr("requirements", text), job, node) is want
    assert classads.rank_of(classads.parse_expr("rank", "Cpus * 2"), job, node) == 8.0
