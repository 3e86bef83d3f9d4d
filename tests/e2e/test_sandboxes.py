"""Sandboxes on a real controller and agents: input files uploaded at submit are staged
into the job's working directory, output files come back with `corral output`, a
file over the limit is refused naming it, a Collection's shared file is stored once,
an agent connected over TCP (the cluster key) fetches and sends the files itself."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.cluster import Cluster, make_cluster

LIMITS = "\n[sandboxes]\nmax_file_bytes = 100000\nmax_job_bytes = 150000\n"
KEY = "sandbox-cluster-key-5678"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="corral-sbx-"))
    root.chmod(0o755)
    port = free_port()
    c = make_cluster(root, cpus=4, extra_config=LIMITS, controller_config=(
        f'listen = "127.0.0.1:{port}"\ncluster_key = "{KEY}"\n'))
    try:
        c.start_agent("remote", controller=f"http://127.0.0.1:{port}", cluster_key=KEY,
                      args=("--features", "remote"))
        c.wait_idle("remote", timeout_s=20)
        yield c
    finally:
        c.down()
        shutil.rmtree(root, ignore_errors=True)


def _stored(c: Cluster) -> list[Path]:
    return sorted(p for p in (c.state / "sandboxes" / "sha256").rglob("*") if p.is_file())


def test_inputs_staged_and_outputs_brought_back(cluster: Cluster) -> None:
    c = cluster
    src, work, out = (c.state.parent / d for d in ("src", "work", "out"))
    src.mkdir()
    work.mkdir()
    (src / "a.txt").write_text("alpha\n")
    (src / "b.dat").write_bytes(b"beta" * 1000)
    job = c.corral("submit", "--parsable", "-D", str(work), "--input-sandbox",
                   str(src / "a.txt"), "--input-sandbox", str(src / "b.dat"),
                   "--output-sandbox", "result.txt", "--output-sandbox", "absent.txt",
                   "--wrap", "cat a.txt b.dat > result.txt && wc -c < b.dat >> result.txt"
                   ).stdout.strip()
    done = c.wait(int(job))
    assert done["state"] == "COMPLETED", done
    got = c.corral("output", job, str(out)).stdout
    assert "result.txt" in got
    assert (out / "result.txt").read_text() == "alpha\n" + "beta" * 1000 + "4000\n"
    assert not (out / "absent.txt").exists()
    assert len(_stored(c)) >= 3  # the two inputs and the output, by content


def test_a_file_over_the_limit_is_refused_naming_it(cluster: Cluster) -> None:
    c = cluster
    big = c.state.parent / "big.bin"
    big.write_bytes(b"x" * 120_000)
    proc = c.corral("submit", "--input-sandbox", str(big), "--wrap", "true", check=False)
    assert proc.returncode != 0
    assert "'big.bin'" in proc.stderr and "100000" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_collection_shares_one_stored_file(cluster: Cluster) -> None:
    c = cluster
    d = c.state.parent / "coll"
    d.mkdir()
    (d / "shared.dat").write_bytes(b"shared-content-" * 2000)
    (d / "run.sh").write_text("#!/bin/sh\nwc -c < shared.dat > \"n_$1.txt\"\n")
    (d / "run.sh").chmod(0o755)
    (d / "c.jdl").write_text("""[
  Type = "Collection";
  Executable = "run.sh";
  InputSandbox = {"run.sh", "shared.dat"};
  Nodes = { [ NodeName = "a"; Arguments = "a"; OutputSandbox = {"n_a.txt"} ],
            [ NodeName = "b"; Arguments = "b"; OutputSandbox = {"n_b.txt"} ],
            [ NodeName = "c"; Arguments = "c"; OutputSandbox = {"n_c.txt"} ] };
]""")
    before = set(_stored(c))
    ids = c.corral("submit", "--parsable", "c.jdl", cwd=d).stdout.split()
    assert len(ids) == 3
    # run.sh and shared.dat, stored once each for the three jobs (a fast job's output
    # may be stored already: only the files with the inputs' contents are counted)
    inputs = {hashlib.sha256((d / f).read_bytes()).hexdigest() for f in ("run.sh", "shared.dat")}
    new_inputs = [p for p in set(_stored(c)) - before if p.name in inputs]
    assert sorted(p.name for p in new_inputs) == sorted(inputs)
    for name, job in zip("abc", ids, strict=True):
        done = c.wait(int(job))
        assert done["state"] == "COMPLETED", done
        assert len(c.show(int(job))["spec"]["input_sandbox"]) == 2
        outdir = d / f"out-{name}"
        c.corral("output", job, str(outdir))
        assert (outdir / f"n_{name}.txt").read_text().strip() == str(15 * 2000)


def test_an_agent_over_tcp_fetches_and_sends_the_files(cluster: Cluster) -> None:
    c = cluster
    d = c.state.parent / "tcp"
    d.mkdir()
    (d / "in.txt").write_text("over the wire\n")
    (d / "work").mkdir()
    job = c.corral("submit", "--parsable", "-D", str(d / "work"), "--constraint", "remote",
                   "--input-sandbox", str(d / "in.txt"), "--output-sandbox", "copy.txt",
                   "--wrap", "tr a-z A-Z < in.txt > copy.txt", cwd=d)
    done = c.wait(int(job.stdout.strip()))
    assert done["state"] == "COMPLETED" and done["node_list"] == ["remote"], done
    c.corral("output", job.stdout.strip(), str(d / "back"))
    assert (d / "back" / "copy.txt").read_text() == "OVER THE WIRE\n"
