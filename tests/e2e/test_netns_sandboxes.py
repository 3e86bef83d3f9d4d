"""A Collection of 50 JDLs sharing a 20 MB input sandbox, on two agents in network
namespaces whose working directories are their own (a private file system mounted
over the submit directory in each agent's mount namespace): the file is stored once
by the controller, every node finds it whole in its working directory (fetched by
its agent), and every node's output sandbox comes back with `corral output`."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_netns import NODES, Net, NetCluster, net, net_cluster

__all__ = ["net"]  # the fixture, used by name

BIG_BYTES = 20 * 2**20
JOBS = 50
RUN = """#!/bin/sh
# the shared file, whole, in this node's working directory
sha256sum big.dat | cut -d' ' -f1 > "$1.sum"
echo "$1 on $CORRAL_NODENAME net $(readlink /proc/self/ns/net) fs $(stat -f -c %T .)"
"""


def _own_working_directory(node: str, work: Path) -> list[str]:
    """The agent in a mount namespace of its own, with an empty file system of its own
    over the submit directory: its jobs see only what it stages there."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount -t tmpfs -o size=128m,mode=1777 corral-{node} "$0" && exec "$@"',
            str(work)]


@pytest.fixture(scope="module")
def private(net: Net) -> Iterator[NetCluster]:
    if subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a mount namespace (unshare -m)")
    with net_cluster(net, _own_working_directory, cpus=6) as nc:
        yield nc


def _stored(state: Path) -> list[Path]:
    return [p for p in (state / "sandboxes" / "sha256").rglob("*") if p.is_file()]


def test_a_collection_of_50_shares_one_stored_20mb_file(private: NetCluster) -> None:
    nc, work = private, private.work
    big = os.urandom(BIG_BYTES)
    digest = hashlib.sha256(big).hexdigest()
    (work / "big.dat").write_bytes(big)
    (work / "run.sh").write_text(RUN)
    (work / "run.sh").chmod(0o755)
    names = [f"n{i:02d}" for i in range(JOBS)]
    nodes = ",\n    ".join(
        f'[ NodeName = "{n}"; Arguments = "{n}"; StdOutput = "{n}.out"; '
        f'OutputSandbox = {{"{n}.out", "{n}.sum"}}; ]' for n in names)
    (work / "coll.jdl").write_text(f"""[
  Type = "Collection";
  Executable = "run.sh";
  InputSandbox = {{"run.sh", "big.dat"}};
  Nodes = {{
    {nodes}
  }};
]
""")
    ids = [int(i) for i in nc.run("corral", "submit", "--parsable", "coll.jdl").stdout.split()]
    assert len(ids) == JOBS
    stored = _stored(nc.cluster.state)
    assert [p.stat().st_size for p in stored].count(BIG_BYTES) == 1, stored  # once
    assert any(p.name == digest for p in stored)
    with nc.cluster.client() as cl:
        jobs = [cl.wait(i, timeout_s=90) for i in ids]
    assert all(j["state"] == "COMPLETED" for j in jobs), [
        (j["id"], j["state"], j.get("reason")) for j in jobs if j["state"] != "COMPLETED"]
    # each ran once: a node fetching 20 MB shows the job as started meanwhile (it is
    # not taken for lost and sent elsewhere)
    assert [j["id"] for j in jobs if j["restarts"]] == []
    assert {n for j in jobs for n in j["node_list"]} == set(NODES)
    assert all(s.split(":")[0] == digest for j in jobs
               for s in j["spec"]["input_sandbox"] if s.endswith(":big.dat"))
    assert not (work / "n00.out").exists()  # they ran in the agents' own directories

    # every node's output files with one `corral output`, each job's in out/JOB; one
    # job's alone, into a directory of its own
    out, one = work.parent / "out", work.parent / "one"
    p = nc.run("corral", "output", "--dir", str(out), *map(str, ids))
    assert len(p.stdout.splitlines()) == 2 * JOBS, p.stdout
    p = nc.run("corral", "output", str(ids[-1]), str(one))
    assert sorted(x.name for x in one.iterdir()) == [f"n{JOBS - 1}.out", f"n{JOBS - 1}.sum"]
    assert (one / f"n{JOBS - 1}.sum").read_bytes() == (
        out / str(ids[-1]) / f"n{JOBS - 1}.sum").read_bytes()
    host_net = os.readlink("/proc/self/ns/net")
    seen: dict[str, set[str]] = {}
    assert sorted(j["name"] for j in jobs) == [f"coll_{n}" for n in names]
    for job in jobs:
        name, got = job["name"].removeprefix("coll_"), out / str(job["id"])
        assert sorted(x.name for x in got.iterdir()) == [f"{name}.out", f"{name}.sum"]
        assert (got / f"{name}.sum").read_text().strip() == digest, name
        line = (got / f"{name}.out").read_text().strip()
        m = re.fullmatch(rf"{name} on (\w+) net (\S+) fs (\w+)", line)
        assert m is not None and m.group(1) == job["node_list"][0], line
        assert m.group(2) != host_net and m.group(3) == "tmpfs", line
        seen.setdefault(m.group(1), set()).add(m.group(2))
    assert len({ns for spaces in seen.values() for ns in spaces}) == 2, seen
