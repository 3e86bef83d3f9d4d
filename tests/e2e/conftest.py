from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Cluster, temp_cluster


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # A short path (Unix socket paths are limited to 108 bytes) that other users
    # may traverse, so that jobs run as their owners can read their spooled scripts.
    with temp_cluster("corral-e2e-") as c:
        yield c
