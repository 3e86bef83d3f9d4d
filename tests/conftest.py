"""Shared test fixtures: where shared/ lives, the PostgreSQL URL."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
PG_URL = os.environ.get("CORRAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
