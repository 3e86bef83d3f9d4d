"""The front ends' CPU binding options reach the job (docs/resources.md): sbatch and
srun --cpu-bind, qsub -binding linear:N, corral submit --cpu-bind/--core-type."""

from __future__ import annotations

from tests.compat.conftest import Compat


def test_sbatch_cpu_bind(compat: Compat) -> None:
    job_id = int(compat.out("sbatch", "--parsable", "--cpu-bind=verbose,map_cpu:1",
                            "--wrap", "grep Cpus_allowed_list /proc/self/status"))
    job = compat.cluster.wait(job_id)
    assert job["state"] == "COMPLETED" and job["spec"]["cpu_bind"] == "map_cpu:1"
    out = (compat.work / f"slurm-{job_id}.out").read_text()
    assert out.split() == ["Cpus_allowed_list:", "1"]
    p = compat.run("sbatch", "--cpu-bind=sockets2", "--wrap", "true", rc=None)
    assert p.returncode != 0 and "Invalid --cpu-bind argument: sockets2" in p.stderr


def test_qsub_binding_linear(compat: Compat) -> None:
    job_id = int(compat.out("qsub", "-terse", "-cwd", "-b", "y", "-binding", "linear:2",
                            "true"))
    job = compat.cluster.wait(job_id)
    assert job["cpus"] == 2 and job["spec"]["cpu_bind"] == "cores"
    p = compat.run("qsub", "-binding", "striding:2:4", "-b", "y", "true", rc=1)
    assert '-binding: "striding:2:4" is not supported' in p.stderr


def test_corral_submit_options(compat: Compat) -> None:
    c = compat.cluster
    p = c.corral("submit", "--core-type", "big", "--wrap", "true", check=False)
    assert p.returncode == 2 and "core_type: 'big' is not one of" in p.stderr, p.stderr
    job_id = int(c.corral("submit", "--parsable", "--core-type", "P", "--cpu-bind",
                          "threads", "--wrap", "true").stdout)
    spec = compat.cluster.wait(job_id)["spec"]
    assert (spec["core_type"], spec["cpu_bind"]) == ("performance", "threads")
