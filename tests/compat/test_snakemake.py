"""Snakemake with snakemake-executor-plugin-slurm on corral (skipped when they are not
installed): a two-rule workflow with threads and resources, the first rule submitted
as one job array, runs to completion through the drop-in commands."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from tests.compat.conftest import Compat
from tests.compat.tools import snakemake_env

PYTHON = snakemake_env.python()
pytestmark = pytest.mark.skipif(
    PYTHON is None, reason="snakemake and snakemake-executor-plugin-slurm are not installed "
    f"(here, or in the environment of ${snakemake_env.VAR})")

SNAKEFILE = textwrap.dedent("""
    SAMPLES = ["s1", "s2", "s3"]

    rule all:
        input: "total.txt"

    rule count:
        output: "counts/{sample}.txt"
        threads: 2
        resources: mem_mb=600, runtime=5
        shell: "echo {wildcards.sample} $SLURM_ARRAY_JOB_ID ${{SLURM_ARRAY_TASK_ID:-none}} "
               "{threads} > {output}"

    rule total:
        input: expand("counts/{sample}.txt", sample=SAMPLES)
        output: "total.txt"
        threads: 1
        resources: mem_mb=500, runtime=2
        shell: "cat {input} > {output}"
""")


def test_two_rule_workflow_with_an_array_runs_to_completion(compat: Compat) -> None:
    assert PYTHON is not None
    wf = compat.work / "snakemake"
    wf.mkdir()
    (wf / "Snakefile").write_text(SNAKEFILE)
    p = subprocess.run(
        [*snakemake_env.snakemake_command(PYTHON), "--executor", "slurm", "--jobs", "5",
         "--slurm-array-jobs=count",
         "--latency-wait", "5", "--slurm-init-seconds-before-status-checks=2",
         "--default-resources", "slurm_partition=main"],
        env=compat.env, cwd=wf, capture_output=True, text=True, timeout=150)
    assert p.returncode == 0, p.stderr[-4000:]
    assert "Submitted array job with Snakemake IDs" in p.stderr
    assert "5 of 5 steps (100%) done" in p.stderr
    rows = [line.split() for line in (wf / "total.txt").read_text().splitlines()]
    assert [r[0] for r in rows] == ["s1", "s2", "s3"]
    array_ids = {r[1] for r in rows}
    assert len(array_ids) == 1 and array_ids != {""}  # one array job
    assert sorted(r[2] for r in rows) == ["1", "2", "3"]  # its tasks
    assert {r[3] for r in rows} == {"2"}  # threads
    [array_id] = array_ids
    acct = compat.out("sacct", "-X", "-n", "-P", "-j", array_id,
                      "-o", "JobID,AllocCPUS,State,Timelimit").splitlines()
    assert acct == [f"{array_id}_{i}|2|COMPLETED|00:05:00" for i in (1, 2, 3)]
    assert compat.out("squeue", "-h") == ""
