"""sbatch/srun/salloc -w, -x, -C with | and !, and --time=UNLIMITED against a real corral
(one node, node1, in a partition with a 1 day maximum)."""

from __future__ import annotations

from tests.compat.conftest import Compat


def test_nodelist_and_exclude(compat: Compat) -> None:
    p = compat.run("sbatch", "--parsable", "-w", "node1", "--wrap", "true")
    assert "ignored" not in p.stderr
    job = compat.cluster.wait(int(p.stdout), timeout_s=30)
    assert job["state"] == "COMPLETED" and job["node_list"] == ["node1"]
    assert job["spec"]["nodelist"] == ["node1"]
    for prog in ("sbatch", "srun", "salloc"):
        args = ["--wrap", "true"] if prog == "sbatch" else ["true"]
        p = compat.run(prog, "-x", "node1", *args, rc=1)
        assert "exclude: leaves 0 node(s) of partition 'main'; the job asks 1" in p.stderr, p
    p = compat.run("sbatch", "-w", "node[1-2]", "--wrap", "true", rc=1)
    assert "nodelist: no node named 'node2'" in p.stderr


def test_constraint_expressions_and_unlimited(compat: Compat) -> None:
    p = compat.run("sbatch", "-C", "gpu|!fast", "-H", "--parsable", "--wrap", "true")
    job_id = int(p.stdout)
    assert compat.cluster.show(job_id)["spec"]["features"] == ["gpu|!fast"]
    compat.run("scancel", str(job_id))
    p = compat.run("sbatch", "-C", "gpu&|", "--wrap", "true", rc=1)
    assert "constraint 'gpu&|': unexpected '|'" in p.stderr
    p = compat.run("sbatch", "--time=UNLIMITED", "--wrap", "true", rc=1)
    assert "asks UNLIMITED; partition 'main' allows at most 1-00:00:00" in p.stderr
