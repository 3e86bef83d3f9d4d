"""`corral sim --from-store`: a corral store's finished jobs replayed as a trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from corral.model.job import Job, JobSpec, JobState
from corral.sim.cli import sim
from corral.sim.from_store import StoreTraceError, read_store
from corral.sim.run import SimError, replay_store
from corral.store.db import make_engine, migrate
from corral.store.jobs import insert_job
from corral.store.schema import nodes

T0 = 1_700_000_000.0


def job(
    user: str, t_submit: float, t_start: float | None, t_end: float | None, **spec: object
) -> Job:
    limit = int(spec.pop("limit_s", 600))
    state = JobState.COMPLETED if t_end is not None else JobState.CANCELLED
    return Job(
        id=0,
        spec=JobSpec(name="j", working_dir="/tmp", argv=("/bin/true",), **spec),  # type: ignore[arg-type]
        user=user,
        uid=1000,
        gid=1000,
        state=state if t_start is not None else JobState.CANCELLED,
        t_submit=T0 + t_submit,
        partition="main",
        time_limit_s=limit,
        mem_mb_per_node=None,
        t_start=None if t_start is None else T0 + t_start,
        t_end=None if t_end is None else T0 + t_end,
    )


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'corral.db'}"
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(insert(nodes), [{"name": "n1", "cpus": 4, "mem_mb": 1000},
                                     {"name": "n2", "cpus": 4, "mem_mb": 1000}])
        # as it ran (EASY-like): a 2-node job blocks, alice's short ones backfill
        insert_job(conn, job("bob", 0, 0, 500, nodes=1, cpus_per_node=4))
        insert_job(conn, job("carol", 10, 500, 900, nodes=2, cpus_per_node=4, limit_s=1000))
        insert_job(conn, job("alice", 20, 20, 80, cpus_per_node=4, limit_s=300))
        insert_job(conn, job("alice", 30, 80, 140, cpus_per_node=4, limit_s=300))
        insert_job(conn, job("alice", 40, 140, 200, cpus_per_node=4, limit_s=300))
        insert_job(conn, job("dave", 50, None, None))  # cancelled while pending
        insert_job(conn, job("erin", 60, 900, 5000, cpus_per_node=2, limit_s=3000))  # killed
    engine.dispose()
    return url


def test_finished_jobs_become_the_trace(store: str) -> None:
    st = read_store(store)
    assert st.procs == 8
    assert [(j.user, j.t_submit - T0, j.procs) for j in st.jobs] == [
        ("bob", 0, 4),
        ("carol", 10, 8),
        ("alice", 20, 4),
        ("alice", 30, 4),
        ("alice", 40, 4),
        ("erin", 60, 2),
    ]
    assert [j.run_s for j in st.jobs] == [500, 400, 60, 60, 60, 3000]  # capped at the limit
    assert [j.limit_s for j in st.jobs] == [600, 1000, 300, 300, 300, 3000]
    assert [j.job_id for j in read_store(store, since=T0 + 25).jobs] == [4, 5, 7]


def test_policies_replay_the_stores_jobs(store: str) -> None:
    fcfs = replay_store(store, "fcfs")
    easy = replay_store(store, "easy")
    # FCFS: alice waits behind carol's whole-machine job; EASY backfills her
    assert fcfs.result.t_start[2] - T0 == 900
    assert easy.result.t_start[2] - T0 == 20
    assert easy.metrics.mean_wait_s < fcfs.metrics.mean_wait_s


def test_cli_compares_policies_on_the_store(store: str) -> None:
    r = CliRunner().invoke(
        sim, ["--from-store", "--store", store, "--policy", "fcfs,easy,predictive", "--json"]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [d["policy"] for d in rows] == ["fcfs", "easy", "predictive"]
    assert all(d["jobs_simulated"] == 6 for d in rows)
    r = CliRunner().invoke(sim, ["--from-store", "--store", store, "--policy", "easy,fcfs"])
    assert r.exit_code == 0, r.output
    assert "easy" in r.output and "fcfs" in r.output and "8 processors" in r.output


def test_cli_reads_the_sites_store(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                   ) -> None:
    monkeypatch.setenv("CORRAL_STATE_DIR", str(tmp_path))  # tmp_path/corral.db is the store
    monkeypatch.delenv("CORRAL_CONFIG", raising=False)
    monkeypatch.delenv("CORRAL_DATABASE_URL", raising=False)
    r = CliRunner().invoke(sim, ["--from-store", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["jobs_simulated"] == 6


def test_bad_stores_are_one_line_errors(tmp_path: Path, store: str) -> None:
    with pytest.raises(StoreTraceError, match="no such file"):
        read_store(f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(SimError, match="no finished job"):
        replay_store(store, "easy", since=T0 + 10_000)
    r = CliRunner().invoke(sim, ["--from-store", "--store", f"sqlite:///{tmp_path}/x.db"])
    assert r.exit_code == 2 and r.output.startswith("error: store sqlite:///")
    assert len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(sim, ["--sample", "--from-store"])
    assert r.exit_code == 2 and "one of them" in r.output
    r = CliRunner().invoke(sim, ["--sample", "--days", "3"])
    assert r.exit_code == 2 and "--from-store only" in r.output
