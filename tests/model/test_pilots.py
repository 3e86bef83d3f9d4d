"""Pilot tokens and the site clauses (corral.model.pilots)."""

from __future__ import annotations

import pytest

from corral.model.errors import InvalidRequest, Unauthenticated
from corral.model.pilots import (
    mint_token,
    site_rank,
    site_requirement,
    token_site,
    verify_token,
)

KEY = b"s" * 32


def test_a_token_carries_its_site_node_and_end() -> None:
    token = mint_token(KEY, "far", "far-1a2b", 2000.0)
    assert token_site(token) == "far"
    claim = verify_token(KEY, token, 1999.0)
    assert (claim.site, claim.node, claim.expires) == ("far", "far-1a2b", 2000.0)


@pytest.mark.parametrize(("token", "key", "now", "said"), [
    (mint_token(KEY, "far", "n", 2000), b"t" * 32, 0, "bad signature"),
    (mint_token(KEY, "far", "n", 2000), KEY, 2001, "expired"),
    (mint_token(KEY, "far", "n", 2000)[:-2] + "AA", KEY, 0, "bad signature"),
    ("abc", KEY, 0, "malformed"),
    ("e30.abc", KEY, 0, "malformed"),  # {} : no claims
    ("x" * 3000 + ".y", KEY, 0, "malformed"),
])
def test_forged_expired_or_malformed_tokens_are_refused(token: str, key: bytes, now: float,
                                                         said: str) -> None:
    with pytest.raises(Unauthenticated, match=said):
        verify_token(key, token, now)


def test_site_clauses() -> None:
    assert site_requirement("far", None) == 'other.Site == "far"'
    assert site_requirement("far", "other.Cpus > 2") == '(other.Cpus > 2) && other.Site == "far"'
    assert site_rank("far", None) == 'other.Site == "far"'
    assert site_rank("far", "other.Cpus") == \
        'ifThenElse(other.Site == "far", 1e12, 0) + (other.Cpus)'
    with pytest.raises(InvalidRequest, match="site: 'a\"b' is not a site name"):
        site_requirement('a"b', None)
