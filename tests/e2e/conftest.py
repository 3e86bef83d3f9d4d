from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cluster import Cluster, make_cluster


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    # A short path (Unix socket paths are limited to 108 bytes) that other users
    # may traverse, so that jobs run as their owners can read their spooled scripts.
    root = Path(tempfile.mkdtemp(prefix="corral-e2e-"))
    root.chmod(0o755)
    c = make_cluster(root)
    try:
        yield c
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)
