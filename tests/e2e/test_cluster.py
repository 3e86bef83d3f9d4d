"""A controller on PostgreSQL with a second agent over TCP (cluster key)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from corral.store import jobs as store_jobs
from corral.store import make_engine
from corral.store.db import reading
from tests.conftest import PG_URL, free_port
from tests.e2e.cluster import Cluster, make_cluster

KEY = "test-cluster-key-1234"


@pytest.fixture
def pg_cluster() -> Iterator[tuple[Cluster, str, int]]:
    schema = f"corral_e2e_{uuid.uuid4().hex[:12]}"
    url = f"{PG_URL}?schema={schema}"
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="corral-pg-"))
    root.chmod(0o755)
    c = make_cluster(root, controller_config=(
        f'database = "{url}"\nlisten = "127.0.0.1:{port}"\ncluster_key = "{KEY}"\n'))
    try:
        yield c, url, port
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_postgres_store_and_a_remote_agent(pg_cluster: tuple[Cluster, str, int]) -> None:
    c, url, port = pg_cluster
    api = f"http://127.0.0.1:{port}"
    c.start_agent("node3", controller=api, cluster_key="wrong-key")  # an intruder
    c.start_agent("node2", controller=api, cluster_key=KEY)
    try:
        c.wait_idle("node2", timeout_s=20)
        with c.client() as cl:
            assert cl.status()["nodes"].get("node2") == "IDLE"
            assert "node3" not in cl.status()["nodes"]
            wide = cl.submit(name="wide", working_dir=str(c.state), nodes=2,
                             script="#!/bin/sh\necho $CORRAL_NODELIST\n", stdout="wide.out")
            ids = [cl.submit(name=f"j{i}", working_dir=str(c.state), argv=["sleep", "0.5"],
                             stdout="/dev/null") for i in range(8)]
            jobs = [cl.wait(i, timeout_s=30) for i in [wide, *ids]]
        assert all(j["state"] == "COMPLETED" for j in jobs), jobs
        assert (c.state / "wide.out").read_text().strip() == "node1,node2"
        assert {j["node_list"][0] for j in jobs[1:]} == {"node1", "node2"}
        assert "cluster key" in (c.state / "node3.log").read_text()
        # the record is in PostgreSQL
        engine = make_engine(url)
        with reading(engine) as conn:
            stored = store_jobs.query_jobs(conn)
        engine.dispose()
        assert [j.state for j in stored] == ["COMPLETED"] * 9
    finally:
        c.stop_agents("node2", "node3")
