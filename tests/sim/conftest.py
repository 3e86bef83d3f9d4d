from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The shared data beside the repository, or where CORRAL_SHARED points.
SHARED = Path(os.environ.get("CORRAL_SHARED") or (REPO / "../shared")).resolve()
TRACES = SHARED / "traces"
GOLDEN = TRACES / "golden" / "pyss-scenarios"
KTH = TRACES / "KTH-SP2-1996-2.1-cln.swf.gz"
KTH_REF = TRACES / "reference-outputs" / "kth-sp2-third-party-runs"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"{path} is absent: clone the shared/ data beside the repository "
            f"(expected at <repo>/../shared)"
        )
    return path
