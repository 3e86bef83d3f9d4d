"""What third-party tools need from the Slurm front ends, checked without the tools:
--signal reaching steps (not the batch shell), a job requeueing itself, repeated
`sacct -j`, and the empty sacctmgr/sshare tables."""

from __future__ import annotations

import re
import time

from tests.compat.conftest import Compat

# The step traps USR1 and asks for its own requeue, as submitit's checkpoint does
# (ignoring the SIGTERM that the requeue sends, as submitit does); the second run
# (its marker file present) just finishes.
STEP_SIGNAL = """#!/bin/bash
#SBATCH -o sig-%j.out --time=1 --signal=USR1@55
if [ -e restarted-$SLURM_JOB_ID ]; then echo second run; exit 0; fi
srun bash -c 'trap "" TERM; trap "echo step got USR1; touch restarted-$SLURM_JOB_ID; \
scontrol requeue $SLURM_JOB_ID && echo requeue ok; exit 0" USR1; \
for i in $(seq 600); do sleep 0.1; done'
echo batch shell still here
"""


def _submit(c: Compat, *args: str, script: str | None = None) -> int:
    out = c.out("sbatch", "--parsable", *args, input=script)
    assert re.fullmatch(r"\d+\n", out), out
    return int(out)


def test_signal_reaches_the_step_which_requeues_its_job(compat: Compat) -> None:
    job_id = _submit(compat, script=STEP_SIGNAL)
    log = compat.work / f"sig-{job_id}.out"
    deadline = time.monotonic() + 45
    while "second run" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, log.read_text() if log.exists() else "no log"
        time.sleep(0.3)
    job = compat.cluster.wait(job_id, timeout_s=30)
    assert job["state"] == "COMPLETED", job
    text = log.read_text()
    # the step saw USR1, scontrol answered before the requeue's kill; the batch
    # shell ignored the signal (it did not die of it)
    assert "step got USR1" in text and "requeue ok" in text, text
    events = compat.cluster.corral("events", str(job_id)).stdout
    assert "requeue" in events


def test_sacct_repeated_j_asks_for_all(compat: Compat) -> None:
    a = _submit(compat, "--wrap", "true")
    b = _submit(compat, "--wrap", "true")
    compat.cluster.wait(a)
    compat.cluster.wait(b)
    out = compat.out("sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", str(a),
                     "-j", str(b))
    assert out.splitlines() == [f"{a}|COMPLETED", f"{b}|COMPLETED"]


def test_sacctmgr_and_sshare_list_no_associations(compat: Compat) -> None:
    # snakemake's Slurm plugin validates an account with exactly these commands; with
    # no associations defined there is only the root account
    assert compat.out("sacctmgr", "-n", "-s", "list", "user", "me",
                      "format=account%256") == ""
    assert compat.out("sshare", "-U", "--format", "Account%256", "--noheader") == ""
    assert compat.out("sacctmgr", "-P", "list", "assoc",
                      "format=account,user") == "Account|User\nroot|\n"
    assert compat.out("sshare").splitlines()[0].split() == [
        "Account", "User", "RawShares", "NormShares", "RawUsage", "EffectvUsage", "FairShare"]
    p = compat.run("sacctmgr", "frobnicate", "account", "x", rc=1)
    assert p.stderr == "sacctmgr: error: Invalid command entered: frobnicate\n"


def test_batch_environment_describes_the_allocation(compat: Compat) -> None:
    # Parsl's SlurmProvider reads SLURM_JOB_NUM_NODES; submitit SLURM_PROCID & co.
    job_id = _submit(compat, "-n", "2", "--mem=100", "-p", "main", "-A", "acct",
                     "-o", "env-%j.out", "--wrap", "env | grep ^SLURM_ | sort",
                     "--export=ALL,SLURM_JOB_NUM_NODES=7")  # stale values are replaced
    compat.cluster.wait(job_id)
    env = dict(line.split("=", 1) for line in
               (compat.work / f"env-{job_id}.out").read_text().splitlines())
    assert env["SLURM_JOB_ID"] == str(job_id)
    for key, value in [("SLURM_JOB_NUM_NODES", "1"), ("SLURM_NNODES", "1"),
                       ("SLURM_NTASKS", "2"), ("SLURM_TASKS_PER_NODE", "2"),
                       ("SLURM_JOB_CPUS_PER_NODE", "2"), ("SLURM_CPUS_ON_NODE", "2"),
                       ("SLURM_MEM_PER_NODE", "100"), ("SLURM_JOB_PARTITION", "main"),
                       ("SLURM_JOB_ACCOUNT", "acct"), ("SLURM_PROCID", "0"),
                       ("SLURM_LOCALID", "0"), ("SLURM_NODEID", "0")]:
        assert env.get(key) == value, (key, env)


def test_scontrol_config_has_max_array_size(compat: Compat) -> None:
    # snakemake's plugin sizes its array submissions by it
    assert re.search(r"^MaxArraySize\s+= 100001$", compat.out("scontrol", "show", "config"),
                     re.M)
